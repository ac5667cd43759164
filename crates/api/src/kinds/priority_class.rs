//! PriorityClasses: preemption policy PreemptLowerPriority by default, user values up to one
//! billion, `system-` names reserved, value and preemption policy fixed after creation.

use k8s_openapi::api::scheduling::v1::PriorityClass;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, default_str, s};
use crate::strategy::KindRules;

const HIGHEST_USER_PRIORITY: i32 = 1_000_000_000;
/// The built-in classes: name, value, globalDefault.
const SYSTEM_CLASSES: &[(&str, i32)] =
    &[("system-cluster-critical", 2_000_000_000), ("system-node-critical", 2_000_001_000)];

impl KindRules for PriorityClass {
    fn default_fields(&mut self) {
        default_str(&mut self.preemption_policy, "PreemptLowerPriority");
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let name = self.metadata.name.as_deref().unwrap_or("");
        if name.starts_with("system-") {
            let problem = match SYSTEM_CLASSES.iter().find(|(n, _)| *n == name) {
                None => Some(format!("{name} is not a known system priority class")),
                Some((_, v)) if *v != self.value => Some(format!("value of {name} PriorityClass must be {v}")),
                Some(_) if self.global_default == Some(true) => {
                    Some(format!("globalDefault of {name} PriorityClass must be false"))
                }
                Some(_) => None,
            };
            if let Some(p) = problem {
                errs.push(FieldError::forbidden(
                    &FieldPath::new("metadata").child("name"),
                    format!("priority class names with 'system-' prefix are reserved for system use only. error: {p}"),
                ));
            }
        } else if self.value > HIGHEST_USER_PRIORITY {
            errs.push(FieldError::forbidden(
                &FieldPath::new("value"),
                format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
            ));
        }
        if let Some(pp) = &self.preemption_policy {
            crate::kinds::common::enum_required(
                &mut errs,
                pp,
                &["PreemptLowerPriority", "Never"],
                &FieldPath::new("preemptionPolicy"),
            );
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.value != old.value {
            errs.push(FieldError::forbidden(&FieldPath::new("value"), "may not be changed in an update."));
        }
        if self.preemption_policy != old.preemption_policy {
            errs.push(FieldError::invalid(
                &FieldPath::new("preemptionPolicy"),
                s(&self.preemption_policy),
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
    fn defaults_limits_and_updates() {
        let info = crate::registry().get("scheduling.k8s.io", "v1", "priorityclasses").unwrap();
        let pc = json!({"metadata": {"name": "high"}, "value": 1000});
        let out = info.strategy.admit(info, Operation::Create, pc, None, false).unwrap().object;
        assert_eq!(out["preemptionPolicy"], "PreemptLowerPriority");
        let err = info
            .strategy
            .admit(info, Operation::Create, json!({"metadata": {"name": "x"}, "value": 2_000_000_000}), None, false)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "value: Forbidden: maximum allowed value of a user defined priority is 1000000000");
        let mut new = out.clone();
        new["value"] = json!(5);
        let err = info.strategy.admit(info, Operation::Update, new, Some(&out), false).unwrap_err().to_string();
        assert_eq!(err, "value: Forbidden: may not be changed in an update.");
    }
}
