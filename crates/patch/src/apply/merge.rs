//! Merging an applied configuration into the live object and removing what an applier stopped
//! setting, after structured-merge-diff's `Merge` and `RemoveItems`.

use serde_json::Value;

use super::fieldset::{FieldSet, PathElement};
use super::typed::{Shape, child, index_items, shape};
use crate::schema::Node;

/// upstream `Merge`: the configuration's values win; structs and granular maps merge field by
/// field, sets and list maps item by item, everything else is replaced.
pub(super) fn merge(live: Option<&Value>, config: &Value, node: Node) -> Value {
    let Some(live) = live else { return config.clone() };
    match shape(node, Some(config)) {
        Shape::Leaf => config.clone(),
        Shape::Fields => match (live, config) {
            (Value::Object(l), Value::Object(c)) => {
                let mut out = l.clone();
                for (k, cv) in c {
                    let merged = merge(l.get(k), cv, child(node, k).node);
                    out.insert(k.clone(), merged);
                }
                Value::Object(out)
            }
            _ => config.clone(),
        },
        Shape::List(keys, items) => match (live, config) {
            (Value::Array(l), Value::Array(c)) => {
                let lhs = index_items(&keys, l, items);
                let rhs = index_items(&keys, c, items);
                Value::Array(merge_lists(&lhs, &rhs, items))
            }
            _ => config.clone(),
        },
    }
}

/// upstream's list merge order: the configuration's items in its order, items only in the live
/// list kept where they were relative to the items around them.
fn merge_lists(lhs: &[(PathElement, &Value)], rhs: &[(PathElement, &Value)], items: Node) -> Vec<Value> {
    let in_rhs = |pe: &PathElement| rhs.iter().any(|(p, _)| p == pe);
    let live = |pe: &PathElement| lhs.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    // Items on both sides, in configuration order: the next one due decides whether a shared
    // live item is emitted now or when the configuration reaches it.
    let mut shared = rhs.iter().filter(|(pe, _)| live(pe).is_some()).map(|(pe, _)| pe);
    let mut next_shared = shared.next();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                out.push(merge(Some(lhs[li].1), rhs[ri].1, items));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs(pe) && next_shared.is_some_and(|n| n != pe) {
                // A shared item, but not the one due: it comes when the configuration does.
                li += 1;
                continue;
            }
        }
        if li < lhs.len() && !in_rhs(&lhs[li].0) {
            out.push(lhs[li].1.clone());
            li += 1;
            continue;
        }
        if ri < rhs.len() {
            let (pe, value) = &rhs[ri];
            out.push(merge(live(pe), value, items));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        } else {
            // Only shared live items remain, already emitted with the configuration's.
            li += 1;
        }
    }
    out
}

/// upstream `RemoveItems`: removes the places that are members of `set` (with everything
/// below them).
pub(super) fn remove_items(value: &mut Value, set: &FieldSet, node: Node) {
    match (shape(node, Some(value)), value) {
        (Shape::Fields, Value::Object(map)) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let pe = PathElement::Field(k.clone());
                let Some(sub) = set.child(&pe) else { continue };
                if sub.is_member() {
                    map.shift_remove(&k);
                } else if let Some(v) = map.get_mut(&k) {
                    remove_items(v, sub, child(node, &k).node);
                }
            }
        }
        (Shape::List(keys, items), Value::Array(list)) => {
            let named: Vec<PathElement> = index_items(&keys, list, items).into_iter().map(|(pe, _)| pe).collect();
            let mut kept = Vec::with_capacity(list.len());
            for (i, mut item) in std::mem::take(list).into_iter().enumerate() {
                // Duplicates share their first occurrence's name.
                let pe = super::typed::item_element(&keys, &item, items).unwrap_or(PathElement::Index(i));
                let pe = if named.contains(&pe) { pe } else { PathElement::Index(i) };
                match set.child(&pe) {
                    Some(sub) if sub.is_member() => {}
                    Some(sub) => {
                        remove_items(&mut item, sub, items);
                        kept.push(item);
                    }
                    None => kept.push(item),
                }
            }
            *list = kept;
        }
        _ => {}
    }
}

/// Drops `null` map entries: an applied `null` means "unset", and stored objects carry no nulls.
pub(super) fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
