//! The `WWW-Authenticate` header a registry answers an unauthenticated request with (RFC 7235):
//! `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull"`
//! sends the client to a token server, `Basic realm="…"` asks for the credentials themselves.

use std::collections::BTreeMap;

/// One challenge of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// Lower-cased: `bearer`, `basic`, …
    pub scheme: String,
    /// Parameters by lower-cased name, values unquoted.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge of a header value, in order; what cannot be parsed is left out.
pub(crate) fn parse(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim_start();
    while !rest.is_empty() {
        let (token, after) = take_token(rest);
        if token.is_empty() {
            // A stray separator or quote: skip one character and go on.
            rest = skip_one(rest);
            continue;
        }
        let after_ws = after.trim_start();
        if let Some(value_part) = after_ws.strip_prefix('=')
            && let Some(current) = out.last_mut()
        {
            let (value, next) = take_value(value_part.trim_start());
            current.params.insert(token.to_ascii_lowercase(), value);
            rest = next.trim_start().trim_start_matches(',').trim_start();
        } else {
            out.push(Challenge { scheme: token.to_ascii_lowercase(), params: BTreeMap::new() });
            rest = after_ws.trim_start_matches(',').trim_start();
        }
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// A quoted string (with `\` escapes) or a bare token.
fn take_value(s: &str) -> (String, &str) {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find([',', ' ', '\t']).unwrap_or(s.len());
        return (s[..end].to_string(), &s[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

fn skip_one(s: &str) -> &str {
    let mut chars = s.chars();
    chars.next();
    chars.as_str().trim_start()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_of_docker_hub_is_read() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
    }

    #[test]
    fn basic_challenge_and_bare_values_are_read() {
        let c = parse(r#"Basic realm="Registry Realm", charset=UTF-8"#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        assert_eq!(c[0].param("charset"), Some("UTF-8"));
    }

    #[test]
    fn several_challenges_in_one_header_are_kept_apart() {
        let c = parse(r#"Basic realm="a", Bearer realm="https://t/x", error="invalid_token""#);
        assert_eq!(c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(), ["basic", "bearer"]);
        assert_eq!(c[1].param("realm"), Some("https://t/x"));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn escapes_and_commas_inside_quotes_stay_in_the_value() {
        let c = parse(r#"Bearer scope="repository:a:pull,push",realm="say \"hi\"""#);
        assert_eq!(c[0].param("scope"), Some("repository:a:pull,push"));
        assert_eq!(c[0].param("realm"), Some(r#"say "hi""#));
    }

    #[test]
    fn garbage_yields_no_parameters_and_no_panic() {
        assert!(parse("").is_empty());
        for s in ["=", "\"", "Bearer =x", "Bearer realm=\"unterminated", ",,,"] {
            let _ = parse(s);
        }
        assert_eq!(parse("Bearer realm=\"unterminated")[0].param("realm"), Some("unterminated"));
    }
}
