//! Query strings as kubelet reads them: repeated keys kept in order (`command=sh&command=-c`),
//! form decoding (`+` is a space), booleans as Go's `strconv.ParseBool`.

use skiff_api::urlencoding::decode_form;
/// The decoded `key=value` pairs of a query string, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let pairs = q
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode_form(k), decode_form(v))
            })
            .collect();
        Query(pairs)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// A boolean; absent or empty is false. kubelet's own API sends `1`, clients `true`.
    pub fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(format!("{key}: strconv.ParseBool: parsing {v:?}: invalid syntax")),
        }
    }

    /// A whole number, if given.
    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| format!("{key}: strconv.ParseInt: parsing {v:?}: invalid syntax"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_repeated_keys_in_order_and_decodes() {
        let q = Query::parse(Some("command=sh&command=-c&command=echo+a%20b%3Bexit+3&stdin=1&tty=true&x=%zz&y=%4"));
        assert_eq!(q.all("command"), ["sh", "-c", "echo a b;exit 3"]);
        assert_eq!(q.flag("stdin"), Ok(true));
        assert_eq!(q.flag("tty"), Ok(true));
        assert_eq!(q.flag("stderr"), Ok(false));
        assert_eq!(q.get("x"), Some("%zz"));
        assert_eq!(q.get("y"), Some("%4"));
    }

    #[test]
    fn refuses_malformed_numbers_and_booleans() {
        let q = Query::parse(Some("tailLines=ten&follow=yes&limitBytes=5"));
        assert!(q.int("tailLines").unwrap_err().contains("\"ten\""));
        assert!(q.flag("follow").is_err());
        assert_eq!(q.int("limitBytes"), Ok(Some(5)));
    }
}
