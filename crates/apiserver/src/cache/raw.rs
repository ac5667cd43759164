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
    path.into_iter().try_fold(raw, member)
}

/// The top-level members of a document, found in one pass, for reading it at several paths:
/// each [`find`] from the top would skip over everything before its member again (in a pod,
/// the whole `metadata` with its `managedFields` before `spec` and `status`).
pub struct Members<'a> {
    members: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Members<'a> {
    /// The members of the object `doc` (none if it is not an object).
    pub fn of(doc: &'a [u8]) -> Members<'a> {
        let mut members = Vec::new();
        scan_members(doc, |key, start, end| {
            members.push((key, &doc[start..end]));
            false
        });
        Members { members }
    }

    /// The bytes at `path`, as [`find`] on the whole document would give them.
    pub fn find<'k>(&self, path: impl IntoIterator<Item = &'k str>) -> Option<&'a [u8]> {
        let mut path = path.into_iter();
        let first = path.next()?.as_bytes();
        let top = self.members.iter().find(|(k, _)| *k == first)?.1;
        find(top, path)
    }
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
    let mut span = None;
    scan_members(doc, |found, start, end| {
        // Keys the server writes are plain; an escaped key simply does not match.
        let hit = found == key.as_bytes();
        if hit {
            span = Some((start, end));
        }
        hit
    });
    span
}

/// Call `visit(key, value_start, value_end)` for the members of the object `doc` in order
/// (the key without its quotes), until it returns true or the object ends.
fn scan_members<'a>(doc: &'a [u8], mut visit: impl FnMut(&'a [u8], usize, usize) -> bool) -> Option<()> {
    let mut s = Scanner { b: doc, i: 0 };
    s.ws();
    s.eat(b'{')?;
    loop {
        s.ws();
        if s.peek()? == b'}' {
            return Some(());
        }
        let key_start = s.i;
        s.string()?;
        let key = &doc[key_start + 1..s.i - 1];
        s.ws();
        s.eat(b':')?;
        s.ws();
        let value_start = s.i;
        s.value()?;
        if visit(key, value_start, s.i) {
            return Some(());
        }
        s.ws();
        match s.peek()? {
            b',' => s.i += 1,
            _ => return Some(()),
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
        let members = Members::of(doc);
        assert_eq!(members.find(["a", "c", "d"]), find(doc, ["a", "c", "d"]));
        assert_eq!(members.find(["e"]), Some(&b"5"[..]));
        assert_eq!(members.find(["x"]), None);
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
