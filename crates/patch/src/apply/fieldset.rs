//! Sets of field paths, as structured-merge-diff models ownership, and their `FieldsV1` form.
//!
//! A path is a list of [`PathElement`]s: a struct field or map key (`f:name`), a list-map item
//! selected by its key fields (`k:{"name":"web"}`), a set item by its value (`v:"x"`), or an
//! atomic list item by index (`i:0`). A [`FieldSet`] is a tree of those; a node is a *member*
//! when the path itself is in the set (`".": {}` in `FieldsV1` when it also has children).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. The derived order (fields, keys, values, indices) is
/// structured-merge-diff's, which fixes the key order of serialized `FieldsV1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or a map key.
    Field(String),
    /// A list-map item: its key fields, sorted by name, with JSON-encoded values.
    Key(Vec<(String, String)>),
    /// A set item: its JSON-encoded value.
    Value(String),
    /// An item of a list without keys.
    Index(usize),
}

impl PathElement {
    /// A key element from key fields and their values.
    pub fn key(fields: impl IntoIterator<Item = (String, Value)>) -> Self {
        let mut fields: Vec<(String, String)> = fields.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        fields.sort();
        PathElement::Key(fields)
    }

    pub fn value(v: &Value) -> Self {
        PathElement::Value(v.to_string())
    }

    /// The `FieldsV1` key of this element (`f:spec`, `k:{"name":"web"}`, `v:"a"`, `i:0`).
    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let inner: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
                format!("k:{{{}}}", inner.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid path element {s:?}");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => Ok(PathElement::key(m)),
                _ => Err(bad()),
            },
            "v" => serde_json::from_str::<Value>(rest).map(|v| PathElement::value(&v)).map_err(|_| bad()),
            "i" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// Displays as upstream prints paths in conflict messages: `.spec.replicas`,
/// `[name="web"]`, `[=value]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", inner.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as upstream prints it.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether the node at this path itself is a member.
    pub(crate) fn is_member(&self) -> bool {
        self.member
    }

    pub(crate) fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn set_member(&mut self) {
        self.member = true;
    }

    pub(crate) fn child_mut(&mut self, pe: &PathElement) -> Option<&mut FieldSet> {
        self.children.get_mut(pe)
    }

    fn prune(mut self) -> Option<Self> {
        self.children.retain(|_, c| !c.is_empty());
        (!self.is_empty()).then_some(self)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not paths of `other` (exact paths: a member of `other`
    /// does not remove the paths below it).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && !other.member, children: BTreeMap::new() };
        for (pe, c) in &self.children {
            let rest = match other.children.get(pe) {
                Some(oc) => c.difference(oc),
                None => c.clone(),
            };
            if let Some(rest) = rest.prune() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// The paths of `self` that are neither in `other` nor below one of its members.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        if other.member {
            return FieldSet::new();
        }
        let mut out = FieldSet { member: self.member, children: BTreeMap::new() };
        for (pe, c) in &self.children {
            let rest = match other.children.get(pe) {
                Some(oc) => c.recursive_difference(oc),
                None => c.clone(),
            };
            if let Some(rest) = rest.prune() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && other.member, children: BTreeMap::new() };
        for (pe, c) in &self.children {
            if let Some(oc) = other.children.get(pe)
                && let Some(both) = c.intersection(oc).prune()
            {
                out.children.insert(pe.clone(), both);
            }
        }
        out
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.encode_children())
    }

    fn encode_children(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (pe, c) in &self.children {
            let mut inner = Map::new();
            if c.member && !c.children.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            inner.extend(c.encode_children());
            out.insert(pe.encode(), Value::Object(inner));
        }
        out
    }

    /// Parses `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = v else { return Err("FieldsV1 must be an object".into()) };
        let mut set = FieldSet::new();
        for (k, child) in map {
            if k == "." {
                set.member = true;
                continue;
            }
            let pe = PathElement::decode(k)?;
            let Value::Object(inner) = child else { return Err(format!("FieldsV1 entry {k:?} must be an object")) };
            let mut c = FieldSet::from_fields_v1(child)?;
            // A leaf (`{}`) is a member; a node with children is one only if it says so (`.`).
            if inner.is_empty() {
                c.member = true;
            }
            set.children.insert(pe, c);
        }
        Ok(set)
    }
}

/// Builds a path from field names (`path(&["spec", "replicas"])`).
pub fn field_path(names: &[&str]) -> Vec<PathElement> {
    names.iter().map(|n| PathElement::Field((*n).to_string())).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(n: &str) -> PathElement {
        PathElement::Field(n.into())
    }

    #[test]
    fn round_trips_fields_v1() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}},
                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                }}}
            },
            "f:finalizers": {"v:\"a\"": {}, "i:0": {}}
        });
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert!(set.contains(&[f("spec"), f("replicas")]));
        assert!(set.contains(&[f("metadata"), f("labels")]));
        assert!(!set.contains(&[f("spec")]));
        let web = PathElement::key([("name".to_string(), json!("web"))]);
        assert!(set.contains(&[f("spec"), f("template"), f("spec"), f("containers"), web.clone()]));
        let back = set.to_fields_v1();
        assert_eq!(FieldSet::from_fields_v1(&back).unwrap(), set);
        assert_eq!(
            back["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"],
            json!({".": {}, "f:image": {}, "f:name": {}})
        );
        assert_eq!(
            back["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"],
            json!({".": {}, "f:containerPort": {}})
        );
    }

    #[test]
    fn serializes_in_structured_merge_diff_order() {
        let mut set = FieldSet::new();
        set.insert(&[f("spec"), f("b")]);
        set.insert(&[f("spec"), f("a")]);
        set.insert(&[f("metadata"), f("name")]);
        assert_eq!(
            serde_json::to_string(&set.to_fields_v1()).unwrap(),
            r#"{"f:metadata":{"f:name":{}},"f:spec":{"f:a":{},"f:b":{}}}"#
        );
    }

    #[test]
    fn displays_paths_like_upstream() {
        let p = vec![f("spec"), f("containers"), PathElement::key([("name".into(), json!("web"))]), f("image")];
        assert_eq!(path_string(&p), r#".spec.containers[name="web"].image"#);
        let k = PathElement::key([("protocol".into(), json!("TCP")), ("containerPort".into(), json!(80))]);
        assert_eq!(k.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        assert_eq!(PathElement::value(&json!("a")).to_string(), r#"[="a"]"#);
        assert_eq!(PathElement::Index(2).to_string(), "[2]");
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("x"), f("y")]);
        a.insert(&[f("x")]);
        a.insert(&[f("z")]);
        let mut b = FieldSet::new();
        b.insert(&[f("x")]);
        assert!(a.difference(&b).contains(&[f("x"), f("y")]));
        assert!(!a.difference(&b).contains(&[f("x")]));
        assert_eq!(a.recursive_difference(&b).paths(), vec![vec![f("z")]]);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("x")]]);
        assert_eq!(b.union(&a), a);
        assert!(a.difference(&a).is_empty());
    }
}
