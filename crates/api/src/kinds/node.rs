//! Nodes: allocatable defaults to capacity, taints are unique by key and effect, pod CIDRs and
//! the provider ID are set once (upstream's `ValidateNode(Update)`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, NodeSpec, Taint};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{cidr, qualified_name, s};
use crate::kinds::pod_spec::scheduling::taint_effect;
use crate::kinds::resource_names;
use crate::names;
use crate::strategy::KindRules;

impl KindRules for Node {
    fn prepare_for_create(&mut self) {
        // Dynamic kubelet configuration is gone; the field is dropped.
        if let Some(spec) = &mut self.spec {
            spec.config_source = None;
        }
    }

    fn default_fields(&mut self) {
        if let Some(st) = &mut self.status {
            resource_names::default_list(&mut st.capacity);
            resource_names::default_list(&mut st.allocatable);
            if st.allocatable.is_none() && st.capacity.is_some() {
                st.allocatable = st.capacity.clone();
            }
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        taints(&mut errs, spec.taints.as_deref().unwrap_or_default());
        resources(&mut errs, self);
        pod_cidrs(&mut errs, &spec);
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        resources(&mut errs, self);
        let mut seen = BTreeSet::new();
        for (i, a) in self.status.iter().flat_map(|s| s.addresses.iter().flatten()).enumerate() {
            if !seen.insert((a.type_.as_str(), a.address.as_str())) {
                errs.push(FieldError::duplicate(
                    &FieldPath::new("status").child("addresses").index(i),
                    crate::kinds::common::json(a),
                ));
            }
        }
        let (spec, old_spec) = (self.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
        let old_cidrs = old_spec.pod_cidrs.clone().unwrap_or_default();
        if !old_cidrs.is_empty() && spec.pod_cidrs.clone().unwrap_or_default() != old_cidrs {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if !s(&old_spec.provider_id).is_empty() && old_spec.provider_id != spec.provider_id {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        taints(&mut errs, spec.taints.as_deref().unwrap_or_default());
        if spec.external_id != old_spec.external_id {
            errs.push(FieldError::forbidden(&FieldPath::new("spec").child("externalID"), "may not be updated"));
        }
        errs
    }

    fn validate_status_update(&self, old: &Self) -> FieldErrors {
        self.validate_update(old)
    }
}

/// Taints: valid keys, values and effects, unique by key and effect. Upstream reports them
/// under `metadata.taints`.
fn taints(errs: &mut FieldErrors, taints: &[Taint]) {
    let path = FieldPath::new("metadata").child("taints");
    let mut seen = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        qualified_name(errs, &t.key, &p.child("key"));
        let value = s(&t.value);
        let msgs = names::is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&p.child("value"), value, msgs.join(";")));
        }
        if t.effect.is_empty() {
            errs.push(FieldError::required(&p.child("effect"), ""));
        } else {
            taint_effect(errs, &t.effect, &p.child("effect"));
        }
        if !seen.insert((t.effect.as_str(), t.key.as_str())) {
            let mut e = FieldError::duplicate(&p, crate::kinds::common::json(t));
            e.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(e);
        }
    }
}

fn resources(errs: &mut FieldErrors, node: &Node) {
    let Some(st) = &node.status else { return };
    for (list, field) in [(&st.capacity, "capacity"), (&st.allocatable, "allocatable")] {
        let p = FieldPath::new("status").child(field);
        for (k, q) in list.iter().flatten() {
            // Upstream uses `.child` here, not a key.
            let kp = p.child(k);
            if let Some(v) = resource_names::parse(errs, q, &kp) {
                resource_names::validate_value(errs, k, &v, &kp);
            }
        }
    }
}

fn pod_cidrs(errs: &mut FieldErrors, spec: &NodeSpec) {
    let cidrs = spec.pod_cidrs.clone().unwrap_or_default();
    let p = FieldPath::new("spec").child("podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        cidr(errs, c, &p.index(i));
    }
    if cidrs.len() > 1 {
        let v6 = cidrs.iter().filter(|c| c.contains(':')).count();
        if cidrs.len() > 2 || v6 != 1 {
            errs.push(FieldError::invalid(
                &p,
                crate::kinds::common::json(&cidrs),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, c) in cidrs.iter().enumerate() {
            if !seen.insert(c) {
                errs.push(FieldError::duplicate(&p.index(i), c.as_str()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn allocatable_defaults_and_taints_are_unique() {
        let info = crate::registry().get("", "v1", "nodes").unwrap();
        let node = json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}});
        let out = info.strategy.admit(info, Operation::Create, node, None, false).unwrap().object;
        assert_eq!(out["status"]["allocatable"], json!({"cpu": "4", "memory": "8Gi"}));
        let bad = json!({"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}]}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert!(err.starts_with("metadata.taints[1]: Duplicate value: "), "{err}");
        assert!(err.ends_with(": taints must be unique by key and effect pair"), "{err}");
    }
}
