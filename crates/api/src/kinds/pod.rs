//! Pods: creation sets `status` to Pending with its QoS class (upstream's pod `PrepareForCreate`),
//! updates may change only images, `activeDeadlineSeconds`, added tolerations and a few more
//! (`ValidatePodUpdate`), and status writes keep the QoS class.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, dns1123_subdomain, inclusive_range, ip, qualified_name, s, top_level_diff};
use crate::kinds::pod_spec::{self, SpecOf, image_whitespace, resources::qos_class};
use crate::strategy::KindRules;

const UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn spec(p: &Pod) -> PodSpec {
    p.spec.clone().unwrap_or_default()
}

impl KindRules for Pod {
    fn prepare_for_create(&mut self) {
        // Upstream defaults while decoding, before this hook; the QoS class needs the defaults
        // (requests copied from limits).
        self.default_fields();
        let spec = self.spec.get_or_insert_with(Default::default);
        pod_spec::drop_disabled(spec, None);
        let mut status = PodStatus {
            phase: Some("Pending".to_string()),
            qos_class: Some(qos_class(spec).to_string()),
            ..Default::default()
        };
        if spec.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
            status.conditions = Some(vec![PodCondition {
                type_: "PodScheduled".to_string(),
                status: "False".to_string(),
                reason: Some("SchedulingGated".to_string()),
                message: Some("Scheduling is blocked due to non-empty scheduling gates".to_string()),
                ..Default::default()
            }]);
        }
        self.status = Some(status);
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        pod_spec::drop_disabled(spec, old.spec.as_ref());
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        pod_spec::default_pod_only(spec);
        pod_spec::default_pod_spec(spec);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = validate_metadata_and_spec(self);
        let spec = spec(self);
        let sp = FieldPath::new("spec");
        if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
            errs.push(FieldError::forbidden(&sp.child("ephemeralContainers"), "cannot be set on create"));
        }
        if !s(&spec.node_name).is_empty() && spec.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
            errs.push(FieldError::forbidden(
                &sp.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = validate_metadata_and_spec(self);
        let (new_spec, old_spec) = (spec(self), spec(old));
        validate_spec_update(&mut errs, &new_spec, &old_spec);
        errs
    }

    fn validate_status_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let status = self.status.clone().unwrap_or_default();
        let old_status = old.status.clone().unwrap_or_default();
        // Upstream reports conditions under `metadata`.
        for (i, c) in status.conditions.iter().flatten().enumerate() {
            if !["PodScheduled", "Ready", "Initialized"].contains(&c.type_.as_str()) {
                qualified_name(
                    &mut errs,
                    &c.type_,
                    &FieldPath::new("metadata").child("conditions").index(i).child("Type"),
                );
            }
        }
        let sp = FieldPath::new("status");
        if s(&spec(self).node_name) != s(&spec(old).node_name) {
            errs.push(FieldError::forbidden(&sp.child("nodeName"), "may not be changed directly"));
        }
        let nominated = s(&status.nominated_node_name);
        if nominated != s(&old_status.nominated_node_name) && !nominated.is_empty() {
            dns1123_subdomain(&mut errs, nominated, &sp.child("nominatedNodeName"));
        }
        if status.qos_class != old_status.qos_class {
            errs.push(FieldError::invalid(&sp.child("qosClass"), s(&status.qos_class), IMMUTABLE_MSG));
        }
        validate_ips(&mut errs, status.pod_ips.iter().flatten().map(|p| p.ip.as_str()).collect(), &sp.child("podIPs"));
        let host_ips: Vec<&str> = status.host_ips.iter().flatten().map(|h| h.ip.as_str()).collect();
        if let Some(first) = host_ips.first()
            && s(&status.host_ip) != *first
        {
            errs.push(FieldError::invalid(
                &sp.child("hostIPs").index(0).child("ip"),
                *first,
                "must be equal to `hostIP`",
            ));
        }
        validate_ips(&mut errs, host_ips, &sp.child("hostIPs"));
        errs
    }
}

/// Valid IPs, at most one per family, no duplicates.
fn validate_ips(errs: &mut FieldErrors, ips: Vec<&str>, path: &FieldPath) {
    for (i, a) in ips.iter().enumerate() {
        ip(errs, a, &path.index(i));
    }
    if ips.len() > 1 {
        let parsed: Vec<_> = ips.iter().filter_map(|a| crate::kinds::common::parse_ip(a)).collect();
        let v4 = parsed.iter().filter(|a| a.is_ipv4()).count();
        if parsed.len() == ips.len() && (ips.len() > 2 || v4 != 1) {
            let list: Vec<serde_json::Value> = ips.iter().map(|a| serde_json::json!({ "ip": a })).collect();
            errs.push(FieldError::invalid(path, list, "may specify no more than one IP for each IP family"));
        }
        let mut seen = BTreeSet::new();
        for (i, a) in ips.iter().enumerate() {
            if !seen.insert(*a) {
                errs.push(FieldError::duplicate(&path.index(i), serde_json::json!({ "ip": a })));
            }
        }
    }
}

/// Upstream's `validatePodMetadataAndSpec` (metadata itself is validated generically).
fn validate_metadata_and_spec(pod: &Pod) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let spec = spec(pod);
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let sp = FieldPath::new("spec");
    pod_spec::pod_specific_annotations(
        &mut errs,
        pod.metadata.annotations.as_ref(),
        &FieldPath::new("metadata").child("annotations"),
    );
    if let Some(mirror) = pod.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/config.mirror"))
        && s(&spec.node_name).is_empty()
    {
        errs.push(FieldError::invalid(
            &FieldPath::new("metadata").child("annotations").key("kubernetes.io/config.mirror"),
            mirror.as_str(),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    pod_spec::validate_pod_spec(&mut errs, &spec, SpecOf::Pod(name), &sp);
    if s(&spec.service_account_name).is_empty() {
        for (vi, v) in spec.volumes.iter().flatten().enumerate() {
            for (si, src) in v.projected.iter().flat_map(|p| p.sources.iter().flatten()).enumerate() {
                if src.service_account_token.is_some() {
                    errs.push(FieldError::forbidden(
                        &sp.child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (i, c) in spec.containers.iter().enumerate() {
        image_whitespace(&mut errs, s(&c.image), &sp.child("containers").index(i).child("image"));
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        image_whitespace(&mut errs, s(&c.image), &sp.child("initContainers").index(i).child("image"));
    }
    errs
}

/// The update rules of `ValidatePodUpdate` for the spec.
fn validate_spec_update(errs: &mut FieldErrors, new: &PodSpec, old: &PodSpec) {
    let sp = FieldPath::new("spec");
    let new_inits = new.init_containers.clone().unwrap_or_default();
    let old_inits = old.init_containers.clone().unwrap_or_default();
    for (n, o, field) in [(&new.containers, &old.containers, "containers"), (&new_inits, &old_inits, "initContainers")]
    {
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(&sp.child(field), "pod updates may not add or remove containers"));
            return;
        }
        for (i, c) in n.iter().enumerate() {
            if s(&c.image).is_empty() {
                errs.push(FieldError::required(&sp.child(field).index(i).child("image"), ""));
            }
            image_whitespace(errs, s(&c.image), &sp.child(field).index(i).child("image"));
        }
    }

    // activeDeadlineSeconds may be set, or lowered, but not raised or removed.
    let adp = sp.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(&adp, n, inclusive_range(0, i64::from(i32::MAX))));
            return;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(&adp, n, "must be less than or equal to previous value"));
            return;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &adp,
            serde_json::Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }

    let tolerations = new.tolerations.as_deref().unwrap_or_default();
    let old_tolerations = old.tolerations.as_deref().unwrap_or_default();
    let mut tolerations_ok = true;
    for o in old_tolerations {
        let kept = tolerations.iter().any(|t| {
            let mut o = o.clone();
            o.toleration_seconds = t.toleration_seconds;
            o == *t
        });
        if !kept {
            errs.push(FieldError::forbidden(
                &sp.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            tolerations_ok = false;
            break;
        }
    }
    if tolerations_ok {
        pod_spec::scheduling::validate_tolerations(errs, tolerations, &sp.child("tolerations"));
    }

    let gates = new.scheduling_gates.as_deref().unwrap_or_default();
    let old_gates: BTreeSet<&str> = old.scheduling_gates.iter().flatten().map(|g| g.name.as_str()).collect();
    for (i, g) in gates.iter().enumerate() {
        if !old_gates.contains(g.name.as_str()) {
            errs.push(FieldError::forbidden(
                &sp.child("schedulingGates").index(i).child("name"),
                format!("only deletion is allowed, but found new scheduling gate '{}'", g.name),
            ));
        }
    }

    if new == old {
        return;
    }
    // Undo the allowed changes, then anything left is forbidden.
    let mut munged = new.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old.containers) {
        c.image = o.image.clone();
    }
    for (c, o) in munged.init_containers.iter_mut().flatten().zip(&old_inits) {
        c.image = o.image.clone();
    }
    munged.active_deadline_seconds = old.active_deadline_seconds;
    munged.scheduling_gates = old.scheduling_gates.clone();
    munged.tolerations = old.tolerations.clone();
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0) && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    if old.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
        // Gated pods may gain node selector entries.
        let old_sel = old.node_selector.clone().unwrap_or_default();
        let new_sel = munged.node_selector.clone().unwrap_or_default();
        if old_sel.iter().all(|(k, v)| new_sel.get(k) == Some(v)) {
            munged.node_selector = old.node_selector.clone();
        } else {
            errs.push(crate::kinds::common::invalid_repr(
                &sp.child("nodeSelector"),
                crate::kinds::common::go_string_map(munged.node_selector.as_ref()),
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            ));
            munged.node_selector = old.node_selector.clone();
        }
    }
    if munged != *old {
        let diff = top_level_diff("core.PodSpec", old, &munged);
        errs.push(FieldError::forbidden(
            &sp,
            format!("pod updates may not change fields other than {UPDATABLE_FIELDS}\n{diff}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("", "v1", "pods").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": spec})
    }

    fn minimal() -> Value {
        pod(json!({"containers": [{"name": "app", "image": "nginx"}]}))
    }

    #[test]
    fn defaults_a_minimal_pod() {
        let p = admit(Operation::Create, minimal(), None).unwrap();
        let spec = &p["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["resources"], json!({}));
        assert_eq!(p["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
    }

    #[test]
    fn defaults_inside_containers() {
        let p = admit(
            Operation::Create,
            pod(json!({"containers": [{
                "name": "app", "image": "nginx:1.25",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "livenessProbe": {"httpGet": {"port": 80}},
                "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}}
            }]})),
            None,
        )
        .unwrap();
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["resources"]["requests"], json!({"cpu": "500m", "memory": "128Mi"}));
        assert_eq!(p["status"]["qosClass"], "Guaranteed");
    }

    #[test]
    fn rejects_invalid_specs_with_upstream_messages() {
        let err = admit(Operation::Create, pod(json!({"containers": []})), None).unwrap_err();
        assert_eq!(err, "spec.containers: Required value");

        let err = admit(
            Operation::Create,
            pod(json!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "a", "image": "y"}]})),
            None,
        )
        .unwrap_err();
        assert_eq!(err, r#"spec.initContainers[0].name: Duplicate value: "a""#);

        let err = admit(Operation::Create, pod(json!({"containers": [{"name": "Bad_Name"}]})), None).unwrap_err();
        assert!(
            err.contains(r#"spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label"#),
            "{err}"
        );
        assert!(err.contains("spec.containers[0].image: Required value"), "{err}");

        let err = admit(
            Operation::Create,
            pod(json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]})),
            None,
        )
        .unwrap_err();
        assert_eq!(err, r#"spec.containers[0].volumeMounts[0].name: Not found: "data""#);

        let err = admit(
            Operation::Create,
            pod(json!({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x"}]})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#
        );

        let err = admit(
            Operation::Create,
            pod(json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            r#"spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1"#
        );
    }

    #[test]
    fn validates_ports_env_volumes_and_probes() {
        let err = admit(
            Operation::Create,
            pod(json!({
                "volumes": [{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}],
                "containers": [{
                    "name": "a", "image": "x",
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 70000, "name": "http"}],
                    "env": [{"name": "A=B"}],
                    "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}
                }]
            })),
            None,
        )
        .unwrap_err();
        for want in [
            "spec.volumes[0].secret: Forbidden: may not specify more than 1 volume type",
            r#"spec.containers[0].ports[1].name: Duplicate value: "http""#,
            "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            r#"spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='"#,
            "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
        ] {
            assert!(err.contains(want), "missing {want}\n in {err}");
        }
    }

    #[test]
    fn volumes_without_a_source_become_empty_dirs() {
        let p = admit(
            Operation::Create,
            pod(json!({"volumes": [{"name": "scratch"}], "containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}]})),
            None,
        )
        .unwrap();
        assert_eq!(p["spec"]["volumes"][0], json!({"name": "scratch", "emptyDir": {}}));
    }

    #[test]
    fn updates_may_change_only_images_and_a_few_fields() {
        let old = admit(Operation::Create, minimal(), None).unwrap();
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:1.26");
        new["spec"]["activeDeadlineSeconds"] = json!(100);
        assert!(admit(Operation::Update, new, Some(&old)).is_ok());

        let mut new = old.clone();
        new["spec"]["restartPolicy"] = json!("Never");
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "spec: Forbidden: pod updates may not change fields other than {UPDATABLE_FIELDS}\n"
            )),
            "{err}"
        );
        assert!(err.contains(r#"restartPolicy: "Never""#), "{err}");

        let mut new = old.clone();
        new["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "b", "image": "x"}));
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert_eq!(err, "spec.containers: Forbidden: pod updates may not add or remove containers");
    }

    #[test]
    fn tolerations_may_only_be_added() {
        let mut base = minimal();
        base["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]);
        let old = admit(Operation::Create, base, None).unwrap();
        let mut new = old.clone();
        new["spec"]["tolerations"].as_array_mut().unwrap().push(json!({"key": "j", "operator": "Exists"}));
        assert!(admit(Operation::Update, new, Some(&old)).is_ok());
        let mut new = old.clone();
        new["spec"]["tolerations"] = json!([]);
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert!(
            err.contains(
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ),
            "{err}"
        );
    }

    #[test]
    fn status_updates_keep_qos_class() {
        let old = admit(Operation::Create, minimal(), None).unwrap();
        let mut new = old.clone();
        new["status"]["qosClass"] = json!("Guaranteed");
        let err = admit(Operation::StatusUpdate, new, Some(&old)).unwrap_err();
        assert_eq!(err, r#"status.qosClass: Invalid value: "Guaranteed": field is immutable"#);
    }
}
