//! Reading JSON documents without parsing them whole: the watch cache holds every object as
//! bytes, and most readers want one small part (the metadata, a field a selector matches on).
//! Scanning to that part and parsing only it is several times cheaper than building a `Value`
//! of a whole pod.
//!
//! The scanner trusts its input to be valid JSON (the cache only holds what serde_json wrote);
//! on anything else it answers `None` rather than guessing.

/// The bytes of the value at `path` (object keys from the top), e.g. `["spec", "nodeName"]`
/// or `"spec.nodeName".split('.')`.
pub fn find<'a, 'k>(raw: &'a [u8], path: impl IntoIterator<Item = &'k str>) -> Option<&'a [u8]> {
    let mut doc = raw;
    for key in path {
        doc = member(doc, key)?;
    }
    Some(doc)
}

/// The offset just inside the `{` of the top-level `metadata` value.
pub fn metadata_body_offset(raw: &[u8]) -> Option<usize> {
    let (start, _) = member_span(raw, "metadata")?;
    (raw[start] == b'{').then_some(start + 1)
}

/// The value of `key` in the object `doc`.
fn member<'a>(doc: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let (start, end) = member_span(doc, key)?;
    Some(&doc[start..end])
}

/// Where the value of `key` in the object `doc` starts and ends.
fn member_span(doc: &[u8], key: &str) -> Option<(usize, usize)> {
    let mut s = Scanner { b: doc, i: 0 };
    s.ws();
    s.eat(b'{')?;
    loop {
        s.ws();
        if s.peek()? == b'}' {
            return None;
        }
        let key_start = s.i;
        s.string()?;
        let found = &doc[key_start..s.i];
        s.ws();
        s.eat(b':')?;
        s.ws();
        let value_start = s.i;
        s.value()?;
        // Keys the server writes are plain; an escaped key simply does not match.
        if found.len() == key.len() + 2 && &found[1..found.len() - 1] == key.as_bytes() {
            return Some((value_start, s.i));
        }
        s.ws();
        match s.peek()? {
            b',' => s.i += 1,
            _ => return None,
        }
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
    }

    /// Skip one value of any kind.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self.peek().is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace()) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_as_bytes() {
        let doc = br#"{"a": {"b": [1, {"c": "}"}], "c": {"d": "x\"y"}}, "e": 5}"#;
        assert_eq!(find(doc, ["a", "c", "d"]), Some(&br#""x\"y""#[..]));
        assert_eq!(find(doc, ["a", "b"]), Some(&br#"[1, {"c": "}"}]"#[..]));
        assert_eq!(find(doc, ["e"]), Some(&b"5"[..]));
        assert_eq!(find(doc, ["a", "x"]), None);
        assert_eq!(find(doc, ["e", "x"]), None);
        assert_eq!(find(b"[1]", ["a"]), None);
    }

    #[test]
    fn keys_nested_deeper_do_not_match_at_the_top() {
        let doc = br#"{"spec": {"metadata": {"x": 1}}, "metadata": {"name": "n"}}"#;
        assert_eq!(find(doc, ["metadata"]), Some(&br#"{"name": "n"}"#[..]));
        assert_eq!(metadata_body_offset(doc), Some(doc.len() - 13));
    }
}
