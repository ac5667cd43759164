//! Server-side apply and field ownership (`metadata.managedFields`), after structured-merge-diff
//! and the API server's field manager.
//!
//! Every write records who set what: [`record_update`] after a create, update or patch (the
//! writer takes the fields it changed, `operation: Update`), [`apply`] for an apply patch (the
//! applier owns exactly the fields of its configuration, `operation: Apply`, and fields it
//! stopped setting are removed unless someone else owns them). Changing a field another manager
//! owns is a conflict for an applier unless it forces.
//!
//! [`fieldset`] has the path sets and `FieldsV1`, [`typed`] the schema-aware walks,
//! [`merge`] merging and removing, [`managed`] the managedFields entries.

pub mod fieldset;
mod managed;
mod merge;
mod typed;

use std::fmt;

use serde_json::Value;

pub use fieldset::{FieldSet, PathElement};
pub use managed::{ManagedEntry, Operation};

use crate::schema::Node;
use managed::{decode, encode, fields_from_dotted, stripped, without_managed_fields};

/// A field an applier would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager's name (`kubectl-client-side-apply`).
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: Option<String>,
    /// The field as upstream prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="web"].image`.
    pub field: String,
}

impl Conflict {
    fn entry(&self) -> ManagedEntry {
        ManagedEntry::new(&self.manager, self.operation, &self.api_version, self.subresource.as_deref())
    }

    /// The manager as upstream names it in messages: `"kubectl-client-side-apply" using apps/v1`.
    pub fn manager_display(&self) -> String {
        self.entry().display()
    }

    /// The message of this conflict's `StatusCause` (type `FieldManagerConflict`, field
    /// [`Conflict::field`]).
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_display())
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// 409 Conflict, reason `Conflict`, one `FieldManagerConflict` cause per conflict.
    Conflicts(Vec<Conflict>),
    /// The configuration carries `metadata.managedFields`: 400 with upstream's text.
    ManagedFieldsInConfig,
    /// The configuration cannot be read against the schema (a list item without its key, two
    /// items with the same key).
    Invalid(String),
}

impl std::error::Error for ApplyError {}

/// upstream `getConflictMessage`.
impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Conflicts(c) if c.len() == 1 => {
                write!(f, "Apply failed with 1 conflict: conflict with {}: {}", c[0].manager_display(), c[0].field)
            }
            ApplyError::Conflicts(c) => {
                // Grouped by manager, managers in the order of their identifiers.
                let mut managers: Vec<(String, ManagedEntry)> = Vec::new();
                for conflict in c {
                    let e = conflict.entry();
                    if !managers.iter().any(|(_, m)| m.same_manager(&e)) {
                        managers.push((e.identifier(), e));
                    }
                }
                managers.sort_by(|a, b| a.0.cmp(&b.0));
                let mut lines = Vec::new();
                for (_, m) in &managers {
                    lines.push(format!("conflicts with {}:", m.display()));
                    for conflict in c.iter().filter(|x| x.entry().same_manager(m)) {
                        lines.push(format!("- {}", conflict.field));
                    }
                }
                write!(f, "Apply failed with {} conflicts: {}", c.len(), lines.join("\n"))
            }
            ApplyError::ManagedFieldsInConfig => f.write_str("metadata.managedFields must be nil"),
            ApplyError::Invalid(msg) => write!(f, "failed to create typed patch object: {msg}"),
        }
    }
}

/// Records the fields a create, update or patch changed as owned by `manager` (operation
/// `Update`), in `new`'s `metadata.managedFields`.
///
/// `old` is the stored object before the write (`None` for a create). When `new` carries a
/// non-empty `managedFields` (a client editing ownership) that is the starting point, otherwise
/// `old`'s; `[{}]` strips all ownership. The fields that changed move to `manager` and leave every other manager; fields that
/// disappeared leave every manager; managers left with nothing are dropped. The entry's time is
/// set to `now` when the write changed something it owns. `reset` lists dotted field paths whose
/// ownership is not tracked for this request, as upstream's strategies' reset fields
/// (`["status"]` for the main resource of a kind with a status subresource, `["spec"]` for its
/// status subresource).
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
    schema: Node,
    reset: &[&str],
) {
    if !new.is_object() {
        return;
    }
    let supplied = new.pointer("/metadata/managedFields").and_then(Value::as_array);
    // `[{}]` is the documented way to strip ownership: the object keeps none, not even this
    // write's.
    if supplied.is_some_and(|s| s.len() == 1 && s[0].as_object().is_some_and(|o| o.is_empty())) {
        encode(new, Vec::new());
        return;
    }
    // A non-empty list from the client replaces the stored ownership; an empty or missing one
    // keeps it, so clients unaware of managedFields cannot drop it.
    let mut managers = match supplied {
        Some(list) if !list.is_empty() => decode(new),
        _ => old.map(decode).unwrap_or_default(),
    };

    // `compare` skips metadata.managedFields itself, so neither object is copied.
    let empty = Value::Object(Default::default());
    let mut cmp = typed::compare(Some(old.unwrap_or(&empty)), Some(new), schema);
    cmp.exclude(&fields_from_dotted(reset));
    let changed = cmp.changed();

    let me = ManagedEntry::new(manager, Operation::Update, api_version, subresource);
    // Everyone loses what changed hands or disappeared; the writer is re-credited below.
    for m in &mut managers {
        m.fields = m.fields.difference(&changed).difference(&cmp.removed);
    }
    let mine = changed.difference(stripped());
    if !mine.is_empty() {
        match managers.iter_mut().find(|m| m.same_manager(&me)) {
            Some(entry) => {
                entry.fields = entry.fields.union(&mine);
                entry.time = Some(now.to_string());
            }
            None => managers.push(ManagedEntry { fields: mine, time: Some(now.to_string()), ..me }),
        }
    }
    encode(new, managers);
}

/// Server-side apply: merges the applied configuration `config` into `live` (`None` to create)
/// and returns the object to store, with `metadata.managedFields` updated.
///
/// `manager` owns exactly the fields of `config` afterwards (operation `Apply`). Fields it owned
/// before and no longer sets are removed from the object unless another manager owns them.
/// Changing a field another manager owns is a conflict unless `force`, which moves the field
/// to `manager`. Applying a value equal to the live one is no conflict: the field is then shared.
/// `reset` is as for [`record_update`].
#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
    schema: Node,
    reset: &[&str],
) -> Result<Value, ApplyError> {
    if config.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
        return Err(ApplyError::ManagedFieldsInConfig);
    }
    let ignored = fields_from_dotted(reset);
    let mut managers = live.map(decode).unwrap_or_default();
    let live_plain = live.map(without_managed_fields).unwrap_or_else(|| Value::Object(Default::default()));

    let config_set = typed::to_field_set(config, schema).map_err(ApplyError::Invalid)?.recursive_difference(&ignored);
    let mut merged = merge::merge(Some(&live_plain), config, schema);

    let me = ManagedEntry::new(manager, Operation::Apply, api_version, subresource);
    let last = managers.iter().position(|m| m.same_manager(&me)).map(|i| managers.remove(i));
    let previous_time = last.as_ref().and_then(|l| l.time.clone());
    if let Some(last) = &last {
        prune(&mut merged, &last.fields, &config_set, &managers, schema);
    }

    let mut cmp = typed::compare(Some(&live_plain), Some(&merged), schema);
    cmp.exclude(&ignored);
    let changed = cmp.changed();
    let mut conflicts = Vec::new();
    for m in &managers {
        for path in m.fields.intersection(&changed).paths() {
            conflicts.push((
                m.identifier(),
                Conflict {
                    manager: m.manager.clone(),
                    operation: m.operation,
                    api_version: m.api_version.clone(),
                    subresource: m.subresource.clone(),
                    field: fieldset::path_string(&path),
                },
            ));
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| a.0.cmp(&b.0));
        return Err(ApplyError::Conflicts(conflicts.into_iter().map(|(_, c)| c).collect()));
    }
    for m in &mut managers {
        m.fields = m.fields.difference(&changed).difference(&cmp.removed);
    }

    merge::drop_nulls(&mut merged);
    let object_changed = merged != live_plain;
    managers.push(ManagedEntry {
        fields: config_set.difference(stripped()),
        // upstream stamps the applier only when the object changed.
        time: if object_changed { Some(now.to_string()) } else { previous_time },
        ..me
    });
    encode(&mut merged, managers);
    Ok(merged)
}

/// upstream `prune`: removes from `merged` what the applier set last time (`last`) and no longer
/// sets, unless another manager owns it (or something below it).
fn prune(merged: &mut Value, last: &FieldSet, now_set: &FieldSet, others: &[ManagedEntry], schema: Node) {
    let owned = others.iter().fold(now_set.clone(), |acc, m| acc.union(&m.fields));
    let owned = typed::ensure_named_fields_are_members(&owned, schema);
    let last = typed::ensure_named_fields_are_members(last, schema);
    let present = match typed::to_field_set(merged, schema) {
        Ok(s) => typed::ensure_named_fields_are_members(&s, schema),
        // A stored object with duplicate keys: fall back to what the applier owned.
        Err(_) => last.clone(),
    };
    // Identity and system metadata are never removed.
    let remove = present.intersection(&last).difference(&owned).difference(stripped());
    merge::remove_items(merged, &remove, schema);
}

#[cfg(test)]
mod tests;
