//! Namespaces: created Active with the `kubernetes` finalizer in `spec.finalizers`, always labelled
//! `kubernetes.io/metadata.name=<name>`; spec finalizers change only through `finalize`.

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::s;
use crate::names;
use crate::strategy::KindRules;

const NAME_LABEL: &str = "kubernetes.io/metadata.name";
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

impl KindRules for Namespace {
    fn prepare_for_create(&mut self) {
        self.status = Some(NamespaceStatus { phase: Some("Active".to_string()), ..Default::default() });
        // Required on create; it may be removed later (through `finalize`).
        let fins = self.spec.get_or_insert_with(NamespaceSpec::default).finalizers.get_or_insert_with(Vec::new);
        if !fins.iter().any(|f| f == "kubernetes") {
            fins.push("kubernetes".to_string());
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let fins = old.spec.as_ref().and_then(|s| s.finalizers.clone());
        self.spec.get_or_insert_with(NamespaceSpec::default).finalizers = fins;
    }

    fn default_fields(&mut self) {
        // Names from generateName must be set before admission for this label to be right.
        if let Some(name) = self.metadata.name.clone().filter(|n| !n.is_empty()) {
            self.metadata.labels.get_or_insert_with(Default::default).insert(NAME_LABEL.to_string(), name);
        }
        if let Some(st) = &mut self.status
            && s(&st.phase).is_empty()
        {
            st.phase = Some("Active".to_string());
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        // Upstream reports these at the list path, unindexed.
        let path = FieldPath::new("spec").child("finalizers");
        for f in self.spec.iter().flat_map(|s| s.finalizers.iter().flatten()) {
            finalizer_name(&mut errs, f, &path);
        }
        errs
    }

    fn validate_update(&self, _old: &Self) -> FieldErrors {
        FieldErrors::new()
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let phase = self.status.as_ref().and_then(|st| st.phase.as_deref()).unwrap_or("");
        let path = FieldPath::new("status").child("Phase");
        if self.metadata.deletion_timestamp.is_none() {
            if phase != "Active" {
                errs.push(FieldError::invalid(&path, phase, "may only be 'Active' if `deletionTimestamp` is empty"));
            }
        } else if phase != "Terminating" {
            errs.push(FieldError::invalid(
                &path,
                phase,
                "may only be 'Terminating' if `deletionTimestamp` is not empty",
            ));
        }
        errs
    }
}

fn finalizer_name(errs: &mut FieldErrors, f: &str, path: &FieldPath) {
    let problems = names::is_qualified_name(f);
    let bad = !problems.is_empty();
    for m in problems {
        errs.push(FieldError::invalid(path, f, m));
    }
    if !bad && !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
        errs.push(FieldError::invalid(path, f, "name is neither a standard finalizer name nor is it fully qualified"));
    }
}

/// Validation of a write to `namespaces/<name>/finalize` (upstream's
/// `ValidateNamespaceFinalizeUpdate`): each finalizer name, at its index.
pub fn validate_finalize(ns: &Namespace) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let path = FieldPath::new("spec").child("finalizers");
    for (i, f) in ns.spec.iter().flat_map(|s| s.finalizers.iter().flatten()).enumerate() {
        finalizer_name(&mut errs, f, &path.index(i));
    }
    errs
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("", "v1", "namespaces").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    #[test]
    fn created_active_with_finalizer_and_label() {
        let ns = admit(Operation::Create, json!({"metadata": {"name": "team-a"}}), None).unwrap();
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
    }

    #[test]
    fn finalizers_are_kept_on_update_and_validated() {
        let old = admit(Operation::Create, json!({"metadata": {"name": "a"}}), None).unwrap();
        let mut new = old.clone();
        new["spec"]["finalizers"] = json!([]);
        new["metadata"]["labels"] = json!({});
        let out = admit(Operation::Update, new, Some(&old)).unwrap();
        assert_eq!(out["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(out["metadata"]["labels"]["kubernetes.io/metadata.name"], "a");
        let err =
            admit(Operation::Create, json!({"metadata": {"name": "b"}, "spec": {"finalizers": ["custom"]}}), None)
                .unwrap_err();
        assert_eq!(
            err,
            r#"spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified"#
        );
        let mut st = old.clone();
        st["status"]["phase"] = json!("Terminating");
        assert_eq!(
            admit(Operation::StatusUpdate, st, Some(&old)).unwrap_err(),
            r#"status.Phase: Invalid value: "Terminating": may only be 'Active' if `deletionTimestamp` is empty"#
        );
    }
}
