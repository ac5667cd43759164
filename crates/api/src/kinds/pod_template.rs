//! PodTemplates: the template gets pod-spec defaults and template validation.

use k8s_openapi::api::core::v1::{PodTemplate, PodTemplateSpec};

use crate::field_errors::{FieldErrors, FieldPath};
use crate::kinds::pod_spec::{default_template, validate_pod_template_spec};
use crate::kinds::workload::drop_disabled_template;
use crate::strategy::KindRules;

impl KindRules for PodTemplate {
    fn prepare_for_create(&mut self) {
        if let Some(t) = &mut self.template {
            drop_disabled_template(t, None);
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        if let Some(t) = &mut self.template {
            drop_disabled_template(t, old.template.as_ref());
        }
    }

    fn default_fields(&mut self) {
        default_template(self.template.get_or_insert_with(PodTemplateSpec::default));
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_pod_template_spec(&mut errs, &self.template.clone().unwrap_or_default(), &FieldPath::new("template"));
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn template_is_defaulted_and_validated() {
        let info = crate::registry().get("", "v1", "podtemplates").unwrap();
        let ok = json!({"metadata": {"name": "t", "namespace": "default"}, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}});
        let out = info.strategy.admit(info, Operation::Create, ok, None, false).unwrap().object;
        assert_eq!(out["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        let bad = json!({"metadata": {"name": "t", "namespace": "default"}, "template": {"spec": {"containers": []}}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, "template.spec.containers: Required value");
    }
}
