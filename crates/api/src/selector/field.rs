//! Field selectors (`?fieldSelector=spec.nodeName=n1,status.phase!=Failed`).
//!
//! Only equality and inequality exist, and only on the fields each kind declares; values may
//! escape `\`, `,` and `=` with a backslash as upstream's `fields.ParseSelector` allows.

use super::label::SelectorError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negate: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(s, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, value, negate) = if let Some(i) = find_unescaped(&term, "!=") {
                (&term[..i], &term[i + 2..], true)
            } else if let Some(i) = find_unescaped(&term, "==") {
                (&term[..i], &term[i + 2..], false)
            } else if let Some(i) = find_unescaped(&term, "=") {
                (&term[..i], &term[i + 1..], false)
            } else {
                return Err(SelectorError(format!("invalid selector: '{s}'; can't understand '{term}'")));
            };
            requirements.push(FieldRequirement { field: field.trim().to_string(), value: unescape(value), negate });
        }
        Ok(FieldSelector { requirements })
    }

    /// The value a requirement pins with `=`, for fields that can be served from an index.
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && !r.negate).map(|r| r.value.as_str())
    }

    /// Whether an object matches; `get` returns the object's value for a field label.
    pub fn matches(&self, get: impl Fn(&str) -> String) -> bool {
        self.requirements.iter().all(|r| (get(&r.field) == r.value) != r.negate)
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms() {
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert_eq!(s.requirements.len(), 2);
        assert_eq!(s.exact("spec.nodeName"), Some("n1"));
        assert!(s.matches(|f| if f == "spec.nodeName" { "n1".into() } else { "Running".into() }));
        assert!(!s.matches(|f| if f == "spec.nodeName" { "n1".into() } else { "Failed".into() }));
    }

    #[test]
    fn double_equals_and_escapes() {
        let s = FieldSelector::parse(r"metadata.name==a\,b").unwrap();
        assert_eq!(s.exact("metadata.name"), Some("a,b"));
    }

    #[test]
    fn rejects_terms_without_operator() {
        assert!(FieldSelector::parse("metadata.name").is_err());
    }

    #[test]
    fn empty_value_matches_missing_field() {
        let s = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(s.matches(|_| String::new()));
    }
}
