//! ControllerRevisions: `data` is mandatory and immutable, `revision` is not negative.

use k8s_openapi::api::apps::v1::ControllerRevision;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, json, nonnegative};
use crate::strategy::KindRules;

impl KindRules for ControllerRevision {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.data.is_none() {
            errs.push(FieldError::required(&FieldPath::new("data"), "data is mandatory"));
        }
        nonnegative(&mut errs, self.revision, &FieldPath::new("revision"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        if self.data != old.data {
            errs.push(FieldError::invalid(&FieldPath::new("data"), json(&self.data), IMMUTABLE_MSG));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn data_required_and_immutable() {
        let info = crate::registry().get("apps", "v1", "controllerrevisions").unwrap();
        let admit = |op, obj, old: Option<&serde_json::Value>| {
            info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
        };
        let base = json!({"metadata": {"name": "r1", "namespace": "default"}, "revision": 1, "data": {"a": 1}});
        let err =
            admit(Operation::Create, json!({"metadata": {"name": "r1", "namespace": "default"}, "revision": -1}), None)
                .unwrap_err();
        assert_eq!(
            err,
            "[data: Required value: data is mandatory, revision: Invalid value: -1: must be greater than or equal to 0]"
        );
        let old = admit(Operation::Create, base.clone(), None).unwrap();
        let mut new = old.clone();
        new["data"] = json!({"a": 2});
        assert_eq!(
            admit(Operation::Update, new, Some(&old)).unwrap_err(),
            r#"data: Invalid value: {"a":2}: field is immutable"#
        );
    }
}
