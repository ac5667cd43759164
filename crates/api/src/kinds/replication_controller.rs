//! ReplicationControllers: the selector and labels default to the template's labels, 1 replica
//! by default, and upstream's `ValidateReplicationControllerSpec`.

use k8s_openapi::api::core::v1::{ReplicationController, ReplicationControllerStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{default_to, go_string_map, invalid_repr, nonnegative};
use crate::kinds::pod_spec::default_template;
use crate::kinds::replica_set::replica_counts;
use crate::kinds::workload::{drop_disabled_template, restart_always_no_deadline};
use crate::strategy::KindRules;

impl KindRules for ReplicationController {
    fn prepare_for_create(&mut self) {
        self.status = Some(ReplicationControllerStatus::default());
        if let Some(t) = self.spec.as_mut().and_then(|s| s.template.as_mut()) {
            drop_disabled_template(t, None);
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let old_t = old.spec.as_ref().and_then(|s| s.template.as_ref());
        if let Some(t) = self.spec.as_mut().and_then(|s| s.template.as_mut()) {
            drop_disabled_template(t, old_t);
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        let labels = spec.template.as_ref().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone());
        if let Some(labels) = labels {
            if spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
                spec.selector = Some(labels.clone());
            }
            if self.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                self.metadata.labels = Some(labels);
            }
        }
        default_to(&mut spec.replicas, 1);
        if let Some(t) = &mut spec.template {
            default_template(t);
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let path = FieldPath::new("spec");
        nonnegative(&mut errs, i64::from(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"));
        let selector = spec.selector.clone().unwrap_or_default();
        if selector.is_empty() {
            errs.push(FieldError::required(&path.child("selector"), ""));
        }
        nonnegative(&mut errs, i64::from(spec.replicas.unwrap_or(0)), &path.child("replicas"));
        let tp = path.child("template");
        match &spec.template {
            None => errs.push(FieldError::required(&tp, "")),
            Some(t) => {
                let labels = t.metadata.as_ref().and_then(|m| m.labels.as_ref());
                let matches = selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
                if !selector.is_empty() && !matches {
                    errs.push(invalid_repr(
                        &tp.child("metadata").child("labels"),
                        go_string_map(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
                crate::kinds::pod_spec::validate_pod_template_spec(&mut errs, t, &tp);
                restart_always_no_deadline(&mut errs, t, "ReplicationController", &tp);
            }
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let st = self.status.clone().unwrap_or_default();
        replica_counts(
            st.replicas,
            &[
                ("fullyLabeledReplicas", st.fully_labeled_replicas),
                ("readyReplicas", st.ready_replicas),
                ("availableReplicas", st.available_replicas),
            ],
            st.observed_generation,
            st.available_replicas,
            st.ready_replicas,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn selector_and_labels_default_from_template() {
        let info = crate::registry().get("", "v1", "replicationcontrollers").unwrap();
        let rc = json!({"metadata": {"name": "rc", "namespace": "default"}, "spec": {
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        }});
        let out = info.strategy.admit(info, Operation::Create, rc, None, false).unwrap().object;
        assert_eq!(out["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(out["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(out["spec"]["replicas"], 1);
        let bad = json!({"metadata": {"name": "rc", "namespace": "default"}, "spec": {"selector": {"app": "y"}}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, "spec.template: Required value");
    }
}
