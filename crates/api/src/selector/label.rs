//! Label selectors: the string syntax of `?labelSelector=` and the structured `LabelSelector`.
//!
//! Grammar (upstream's `labels.Parse`): comma-separated requirements, each one of `key`, `!key`,
//! `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key>n`, `key<n`.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use crate::names::{is_qualified_name, is_valid_label_value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: BTreeSet<String>,
}

impl Requirement {
    /// Whether a label set satisfies this requirement; `get` looks a key up.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let v = get(&self.key);
        match self.op {
            Op::Equals | Op::In => v.is_some_and(|v| self.values.contains(v)),
            Op::NotEquals | Op::NotIn => v.is_none_or(|v| !self.values.contains(v)),
            Op::Exists => v.is_some(),
            Op::DoesNotExist => v.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(v), Some(bound)) = (v, self.values.iter().next()) else { return false };
                let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else { return false };
                if self.op == Op::GreaterThan { v > bound } else { v < bound }
            }
        }
    }
}

/// A conjunction of requirements; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// Why a selector could not be parsed; the message is what the API returns in a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl LabelSelector {
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// A selector that matches nothing (upstream's `labels.Nothing()`), for a nil selector where
    /// "nothing" is the rule, e.g. a PDB without one.
    pub fn nothing() -> Self {
        LabelSelector { requirements: vec![Requirement { key: String::new(), op: Op::In, values: BTreeSet::new() }] }
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        self.requirements.iter().all(|r| r.matches(get))
    }

    /// Matches the labels of an object held as JSON.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object);
        self.matches(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }

    /// Parse the string form.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        Parser { toks: tokenize(s), pos: 0 }.selector()
    }

    /// Convert a structured `LabelSelector` (`matchLabels` + `matchExpressions`). A null or absent
    /// selector is `None`, which callers treat per their kind's rules.
    pub fn from_structured(sel: &Value) -> Result<Option<Self>, SelectorError> {
        if sel.is_null() {
            return Ok(None);
        }
        let mut requirements = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v.as_str().unwrap_or_default();
                requirements.push(requirement(k, Op::Equals, vec![v.to_string()])?);
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                let op = match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
                    "In" => Op::In,
                    "NotIn" => Op::NotIn,
                    "Exists" => Op::Exists,
                    "DoesNotExist" => Op::DoesNotExist,
                    other => return Err(SelectorError(format!("{other:?} is not a valid label selector operator"))),
                };
                requirements.push(requirement(key, op, values)?);
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Some(LabelSelector { requirements }))
    }
}

fn requirement(key: &str, op: Op, values: Vec<String>) -> Result<Requirement, SelectorError> {
    if let Some(m) = is_qualified_name(key).first() {
        return Err(SelectorError(format!("key: Invalid value: {key:?}: {m}")));
    }
    match op {
        Op::In | Op::NotIn if values.is_empty() => {
            return Err(SelectorError(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".into(),
            ));
        }
        Op::Equals | Op::NotEquals if values.len() != 1 => {
            return Err(SelectorError(
                "values: Invalid value: exact-match compatibility requires one single value".into(),
            ));
        }
        Op::Exists | Op::DoesNotExist if !values.is_empty() => {
            return Err(SelectorError(
                "values: Invalid value: values set must be empty for exists and does not exist".into(),
            ));
        }
        Op::GreaterThan | Op::LessThan if values.len() != 1 || values[0].parse::<i64>().is_err() => {
            return Err(SelectorError(
                "values: Invalid value: for 'Gt', 'Lt' operators, exactly one integer value is required".into(),
            ));
        }
        _ => {}
    }
    if !matches!(op, Op::GreaterThan | Op::LessThan) {
        for v in &values {
            if let Some(m) = is_valid_label_value(v).first() {
                return Err(SelectorError(format!("values[0][{key}]: Invalid value: {v:?}: {m}")));
            }
        }
    }
    Ok(Requirement { key: key.to_string(), op, values: values.into_iter().collect() })
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let vals = || r.values.iter().cloned().collect::<Vec<_>>().join(",");
                match r.op {
                    Op::Equals => format!("{}={}", r.key, vals()),
                    Op::NotEquals => format!("{}!={}", r.key, vals()),
                    Op::In => format!("{} in ({})", r.key, vals()),
                    Op::NotIn => format!("{} notin ({})", r.key, vals()),
                    Op::Exists => r.key.clone(),
                    Op::DoesNotExist => format!("!{}", r.key),
                    Op::GreaterThan => format!("{}>{}", r.key, vals()),
                    Op::LessThan => format!("{}<{}", r.key, vals()),
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Comma,
    Open,
    Close,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                toks.push(Tok::Comma)
            }
            '(' => {
                chars.next();
                toks.push(Tok::Open)
            }
            ')' => {
                chars.next();
                toks.push(Tok::Close)
            }
            '>' => {
                chars.next();
                toks.push(Tok::Gt)
            }
            '<' => {
                chars.next();
                toks.push(Tok::Lt)
            }
            '!' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    toks.push(Tok::NotEq)
                } else {
                    toks.push(Tok::Bang)
                }
            }
            '=' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    toks.push(Tok::DoubleEq)
                } else {
                    toks.push(Tok::Eq)
                }
            }
            _ => {
                let mut ident = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || ",()!=<>".contains(c) {
                        break;
                    }
                    ident.push(c);
                    chars.next();
                }
                toks.push(Tok::Ident(ident));
            }
        }
    }
    toks
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn err(&self, what: &str) -> SelectorError {
        SelectorError(format!("unable to parse requirement: {what}"))
    }

    fn selector(&mut self) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        if self.peek().is_none() {
            return Ok(LabelSelector::everything());
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                None => break,
                Some(Tok::Comma) => continue,
                Some(t) => return Err(self.err(&format!("found {t:?}, expected: ',' or end of selector"))),
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    fn ident(&mut self, after: &str) -> Result<String, SelectorError> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            other => {
                Err(self.err(&format!("found '{}', expected: identifier after {after}", describe(other.as_ref()))))
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if self.peek() == Some(&Tok::Bang) {
            self.next();
            let key = self.ident("'!'")?;
            return requirement(&key, Op::DoesNotExist, vec![]);
        }
        let key = self.ident("start of requirement")?;
        let op = match self.peek() {
            None | Some(Tok::Comma) => return requirement(&key, Op::Exists, vec![]),
            Some(Tok::Eq) | Some(Tok::DoubleEq) => Op::Equals,
            Some(Tok::NotEq) => Op::NotEquals,
            Some(Tok::Gt) => Op::GreaterThan,
            Some(Tok::Lt) => Op::LessThan,
            Some(Tok::Ident(w)) if w == "in" => Op::In,
            Some(Tok::Ident(w)) if w == "notin" => Op::NotIn,
            Some(t) => {
                let t = t.clone();
                return Err(self.err(&format!("found {t:?}, expected: in, notin, =, ==, !=, gt, lt")));
            }
        };
        self.next();
        let values = match op {
            Op::In | Op::NotIn => self.value_set()?,
            _ => match self.peek() {
                // `key=` selects the empty value.
                None | Some(Tok::Comma) => vec![String::new()],
                _ => vec![self.ident("operator")?],
            },
        };
        requirement(&key, op, values)
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        if self.next() != Some(Tok::Open) {
            return Err(self.err("expected: '(' after 'in' or 'notin'"));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Ident(v)) => values.push(v),
                Some(Tok::Close) if values.is_empty() => return Ok(vec![String::new()]),
                other => {
                    return Err(
                        self.err(&format!("found '{}', expected: ',', ')' or identifier", describe(other.as_ref())))
                    );
                }
            }
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::Close) => return Ok(values),
                other => return Err(self.err(&format!("found '{}', expected: ',' or ')'", describe(other.as_ref())))),
            }
        }
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => String::new(),
        Some(Tok::Ident(s)) => s.clone(),
        Some(t) => format!("{t:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    #[test]
    fn parses_every_operator() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe", "n": "5"}}});
        assert!(sel("").matches_object(&o));
        assert!(sel("app=web").matches_object(&o));
        assert!(sel("app==web").matches_object(&o));
        assert!(!sel("app!=web").matches_object(&o));
        assert!(sel("app!=db").matches_object(&o));
        assert!(sel("app in (web, db)").matches_object(&o));
        assert!(!sel("app notin (web)").matches_object(&o));
        assert!(sel("missing notin (web)").matches_object(&o));
        assert!(sel("tier").matches_object(&o));
        assert!(sel("!missing").matches_object(&o));
        assert!(!sel("!tier").matches_object(&o));
        assert!(sel("n>4,n<6").matches_object(&o));
        assert!(sel("app=web,tier=fe").matches_object(&o));
        assert!(!sel("app=web,tier=be").matches_object(&o));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("bad key=x").is_err());
        assert!(LabelSelector::parse("!").is_err());
        assert!(LabelSelector::parse("a=b=c").is_err());
    }

    #[test]
    fn structured_selector() {
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]});
        let s = LabelSelector::from_structured(&s).unwrap().unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}})));
        assert!(!s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert_eq!(s.to_string(), "app=web,tier in (fe)");
    }

    #[test]
    fn nothing_matches_nothing() {
        assert!(!LabelSelector::nothing().matches_object(&json!({"metadata": {"labels": {}}})));
    }
}
