//! StatefulSets: defaults (OrderedReady, RollingUpdate with partition 0, Retain/Retain claim
//! retention, 1 replica, 10 revisions), upstream's `ValidateStatefulSetSpec`, and the update rule
//! that only replicas, ordinals, template, update strategy, claim retention and minReadySeconds
//! may change.
//!
//! Like upstream, the pod template is checked only for labels, annotations, restart policy and
//! deadline; its containers are not validated here.

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetStatus, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::PersistentVolumeClaimStatus;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    annotations, default_str, default_to, go_quote, invalid_repr, label_selector, labels, nonnegative, s,
    selector_must_match_template,
};
use crate::kinds::deployment::decremented;
use crate::kinds::pod_spec::defaults::default_claim_spec;
use crate::kinds::pod_spec::{default_template, pod_specific_annotations};
use crate::kinds::workload::{
    drop_disabled_template, go_rolling_update, int_or_percent_value, not_more_than_100_percent,
    positive_int_or_percent, present_selector,
};
use crate::strategy::KindRules;

impl KindRules for StatefulSet {
    fn prepare_for_create(&mut self) {
        self.status = Some(StatefulSetStatus::default());
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, None);
            // maxUnavailable is alpha in 1.33.
            if let Some(ru) = spec.update_strategy.as_mut().and_then(|u| u.rolling_update.as_mut()) {
                ru.max_unavailable = None;
            }
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let old_spec = old.spec.as_ref();
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, old_spec.map(|s| &s.template));
            let old_uses = old_spec
                .and_then(|s| s.update_strategy.as_ref())
                .and_then(|u| u.rolling_update.as_ref())
                .is_some_and(|r| r.max_unavailable.is_some());
            if !old_uses && let Some(ru) = spec.update_strategy.as_mut().and_then(|u| u.rolling_update.as_mut()) {
                ru.max_unavailable = None;
            }
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_str(&mut spec.pod_management_policy, "OrderedReady");
        let us = spec.update_strategy.get_or_insert_with(StatefulSetUpdateStrategy::default);
        if s(&us.type_).is_empty() {
            us.type_ = Some("RollingUpdate".to_string());
            default_to(&mut us.rolling_update, RollingUpdateStatefulSetStrategy::default());
        }
        if us.type_.as_deref() == Some("RollingUpdate")
            && let Some(ru) = &mut us.rolling_update
        {
            default_to(&mut ru.partition, 0);
        }
        let policy = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        default_str(&mut policy.when_deleted, "Retain");
        default_str(&mut policy.when_scaled, "Retain");
        default_to(&mut spec.replicas, 1);
        default_to(&mut spec.revision_history_limit, 10);
        default_template(&mut spec.template);
        for claim in spec.volume_claim_templates.iter_mut().flatten() {
            default_claim_spec(claim.spec.get_or_insert_with(Default::default));
            let status = claim.status.get_or_insert_with(PersistentVolumeClaimStatus::default);
            default_str(&mut status.phase, "Pending");
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_spec(&mut errs, &self.spec.clone().unwrap_or_default(), &FieldPath::new("spec"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let new = self.spec.clone().unwrap_or_default();
        let old = old.spec.clone().unwrap_or_default();
        let mut masked = new.clone();
        masked.replicas = old.replicas;
        masked.template = old.template.clone();
        masked.update_strategy = old.update_strategy.clone();
        masked.min_ready_seconds = old.min_ready_seconds;
        masked.ordinals = old.ordinals.clone();
        masked.persistent_volume_claim_retention_policy = old.persistent_volume_claim_retention_policy.clone();
        if masked != old {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec"),
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        errs
    }

    fn validate_status_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let st = self.status.clone().unwrap_or_default();
        let p = FieldPath::new("status");
        let counts = [
            ("readyReplicas", st.ready_replicas.unwrap_or(0)),
            ("currentReplicas", st.current_replicas.unwrap_or(0)),
            ("updatedReplicas", st.updated_replicas.unwrap_or(0)),
            ("availableReplicas", st.available_replicas.unwrap_or(0)),
        ];
        nonnegative(&mut errs, i64::from(st.replicas), &p.child("replicas"));
        for (f, v) in counts {
            nonnegative(&mut errs, i64::from(v), &p.child(f));
        }
        if let Some(g) = st.observed_generation {
            nonnegative(&mut errs, g, &p.child("observedGeneration"));
        }
        if let Some(c) = st.collision_count {
            nonnegative(&mut errs, i64::from(c), &p.child("collisionCount"));
        }
        for (f, v) in counts {
            if v > st.replicas {
                errs.push(FieldError::invalid(&p.child(f), v, "cannot be greater than status.replicas"));
            }
        }
        if counts[3].1 > counts[0].1 {
            errs.push(FieldError::invalid(
                &p.child("availableReplicas"),
                counts[3].1,
                "cannot be greater than status.readyReplicas",
            ));
        }
        if decremented(st.collision_count, old.status.as_ref().and_then(|s| s.collision_count)) {
            errs.push(FieldError::invalid(
                &p.child("collisionCount"),
                st.collision_count.unwrap_or(0),
                "cannot be decremented",
            ));
        }
        errs
    }
}

fn validate_spec(errs: &mut FieldErrors, spec: &StatefulSetSpec, path: &FieldPath) {
    match s(&spec.pod_management_policy) {
        "" => errs.push(FieldError::required(&path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            &path.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let default_us = StatefulSetUpdateStrategy::default();
    let us = spec.update_strategy.as_ref().unwrap_or(&default_us);
    let up = path.child("updateStrategy");
    let ru_repr = |us: &StatefulSetUpdateStrategy| {
        go_rolling_update(
            "RollingUpdateStatefulSetStrategy",
            us.rolling_update.as_ref().map(|r| vec![("MaxUnavailable", r.max_unavailable.as_ref())]),
        )
    };
    match s(&us.type_) {
        "" => errs.push(FieldError::required(&up, "")),
        "OnDelete" => {
            if us.rolling_update.is_some() {
                errs.push(invalid_repr(
                    &up.child("rollingUpdate"),
                    ru_repr(us),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = &us.rolling_update {
                let rp = up.child("rollingUpdate");
                nonnegative(errs, i64::from(ru.partition.unwrap_or(0)), &rp.child("partition"));
                if let Some(mu) = &ru.max_unavailable {
                    let mp = rp.child("maxUnavailable");
                    positive_int_or_percent(errs, mu, &mp);
                    if int_or_percent_value(mu) == 0 {
                        errs.push(invalid_repr(&mp, crate::kinds::common::go_int_or_string(mu), "cannot be 0"));
                    }
                    not_more_than_100_percent(errs, mu, &mp);
                }
            }
        }
        other => {
            let repr =
                format!("apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}", go_quote(other), ru_repr(us));
            errs.push(invalid_repr(&up, repr, "must be 'RollingUpdate' or 'OnDelete'"));
        }
    }
    if let Some(p) = &spec.persistent_volume_claim_retention_policy {
        let pp = path.child("persistentVolumeClaimRetentionPolicy");
        for (v, f) in [(&p.when_deleted, "whenDeleted"), (&p.when_scaled, "whenScaled")] {
            let v = s(v);
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(&pp.child(f), v, &["Retain", "Delete"]));
            }
        }
    }
    nonnegative(errs, i64::from(spec.replicas.unwrap_or(0)), &path.child("replicas"));
    nonnegative(errs, i64::from(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"));
    if let Some(o) = &spec.ordinals {
        nonnegative(errs, i64::from(o.start.unwrap_or(0)), &path.child("ordinals.start"));
    }
    let sel = present_selector(&spec.selector);
    match sel {
        None => errs.push(FieldError::required(&path.child("selector"), "")),
        Some(sel) => {
            label_selector(errs, Some(sel), &path.child("selector"));
            if crate::kinds::common::selector_is_empty(sel) {
                errs.push(invalid_repr(
                    &path.child("selector"),
                    crate::kinds::common::go_label_selector(sel),
                    "empty selector is invalid for statefulset",
                ));
            }
        }
    }
    let tp = path.child("template");
    let meta = spec.template.metadata.as_ref();
    selector_must_match_template(
        errs,
        sel,
        meta.and_then(|m| m.labels.as_ref()),
        &tp.child("metadata").child("labels"),
    );
    labels(errs, meta.and_then(|m| m.labels.as_ref()), &tp.child("labels"));
    annotations(errs, meta.and_then(|m| m.annotations.as_ref()), &tp.child("annotations"));
    pod_specific_annotations(errs, meta.and_then(|m| m.annotations.as_ref()), &tp.child("annotations"));
    let tspec = spec.template.spec.as_ref();
    let rp = tspec.and_then(|t| t.restart_policy.as_deref()).unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(&tp.child("spec").child("restartPolicy"), rp, &["Always"]));
    }
    if tspec.is_some_and(|t| t.active_deadline_seconds.is_some()) {
        errs.push(FieldError::forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("apps", "v1", "statefulsets").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn sts() -> Value {
        json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }})
    }

    #[test]
    fn defaults() {
        let s = admit(Operation::Create, sts(), None).unwrap();
        let spec = &s["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(spec["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
        assert_eq!(spec["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
    }

    #[test]
    fn validation_and_update_rules() {
        let mut bad = sts();
        bad["spec"]["podManagementPolicy"] = json!("Random");
        assert_eq!(
            admit(Operation::Create, bad, None).unwrap_err(),
            r#"spec.podManagementPolicy: Invalid value: "Random": must be 'OrderedReady' or 'Parallel'"#
        );
        let old = admit(Operation::Create, sts(), None).unwrap();
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        assert!(admit(Operation::Update, new, Some(&old)).is_ok());
        let mut new = old.clone();
        new["spec"]["serviceName"] = json!("other");
        assert_eq!(
            admit(Operation::Update, new, Some(&old)).unwrap_err(),
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        );
    }
}
