//! StorageClasses: reclaim policy Delete and binding mode Immediate by default, a qualified
//! provisioner, and provisioner, parameters, reclaim policy and binding mode fixed after creation.

use k8s_openapi::api::storage::v1::StorageClass;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, default_str, qualified_name, s};
use crate::strategy::KindRules;

const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;

impl KindRules for StorageClass {
    fn default_fields(&mut self) {
        default_str(&mut self.reclaim_policy, "Delete");
        default_str(&mut self.volume_binding_mode, "Immediate");
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let pp = FieldPath::new("provisioner");
        if self.provisioner.is_empty() {
            errs.push(FieldError::required(&pp, ""));
        } else {
            qualified_name(&mut errs, &self.provisioner.to_lowercase(), &pp);
        }
        let params = self.parameters.clone().unwrap_or_default();
        let path = FieldPath::new("parameters");
        if params.len() > MAX_PARAMETERS {
            errs.push(FieldError::too_long(&path, MAX_PARAMETERS));
        } else {
            for k in params.keys().filter(|k| k.is_empty()) {
                errs.push(FieldError::invalid(&path, k.as_str(), "field can not be empty."));
            }
            if params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > MAX_PARAMETERS_SIZE {
                errs.push(FieldError::too_long(&path, MAX_PARAMETERS_SIZE));
            }
        }
        let rp = s(&self.reclaim_policy);
        if !rp.is_empty() && rp != "Delete" && rp != "Retain" {
            errs.push(FieldError::not_supported(&FieldPath::new("reclaimPolicy"), rp, &["Delete", "Retain"]));
        }
        match &self.volume_binding_mode {
            None => errs.push(FieldError::required(&FieldPath::new("volumeBindingMode"), "")),
            Some(m) if m != "Immediate" && m != "WaitForFirstConsumer" => {
                errs.push(FieldError::not_supported(
                    &FieldPath::new("volumeBindingMode"),
                    m.as_str(),
                    &["Immediate", "WaitForFirstConsumer"],
                ));
            }
            Some(_) => {}
        }
        for (i, term) in self.allowed_topologies.iter().flatten().enumerate() {
            let tp = FieldPath::new("allowedTopologies").index(i).child("matchLabelExpressions");
            let mut keys = std::collections::BTreeSet::new();
            for (j, req) in term.match_label_expressions.iter().flatten().enumerate() {
                let rp = tp.index(j);
                if req.values.is_empty() {
                    errs.push(FieldError::required(&rp.child("values"), ""));
                }
                let mut seen = std::collections::BTreeSet::new();
                for (k, v) in req.values.iter().enumerate() {
                    if !seen.insert(v) {
                        errs.push(FieldError::duplicate(&rp.child("values").index(k), v.as_str()));
                    }
                }
                qualified_name(&mut errs, &req.key, &rp.child("key"));
                if !keys.insert(req.key.as_str()) {
                    errs.push(FieldError::duplicate(&rp.child("key"), req.key.as_str()));
                }
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.parameters.clone().unwrap_or_default() != old.parameters.clone().unwrap_or_default() {
            errs.push(FieldError::forbidden(&FieldPath::new("parameters"), "updates to parameters are forbidden."));
        }
        if self.provisioner != old.provisioner {
            errs.push(FieldError::forbidden(&FieldPath::new("provisioner"), "updates to provisioner are forbidden."));
        }
        if self.reclaim_policy != old.reclaim_policy {
            errs.push(FieldError::forbidden(
                &FieldPath::new("reclaimPolicy"),
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        if self.volume_binding_mode != old.volume_binding_mode {
            errs.push(FieldError::invalid(
                &FieldPath::new("volumeBindingMode"),
                s(&self.volume_binding_mode),
                IMMUTABLE_MSG,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn defaults_and_immutable_parameters() {
        let info = crate::registry().get("storage.k8s.io", "v1", "storageclasses").unwrap();
        let sc = json!({"metadata": {"name": "fast"}, "provisioner": "example.com/ssd", "parameters": {"type": "ssd"}});
        let out = info.strategy.admit(info, Operation::Create, sc, None, false).unwrap().object;
        assert_eq!(out["reclaimPolicy"], "Delete");
        assert_eq!(out["volumeBindingMode"], "Immediate");
        let mut new = out.clone();
        new["parameters"]["type"] = json!("hdd");
        let err = info.strategy.admit(info, Operation::Update, new, Some(&out), false).unwrap_err().to_string();
        assert_eq!(err, "parameters: Forbidden: updates to parameters are forbidden.");
        let err = info
            .strategy
            .admit(info, Operation::Create, json!({"metadata": {"name": "x"}}), None, false)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "provisioner: Required value");
    }
}
