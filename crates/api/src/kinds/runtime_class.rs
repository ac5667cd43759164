//! RuntimeClasses: the handler is a DNS label and never changes; overhead and scheduling are
//! validated like pod fields.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::api::node::v1::RuntimeClass;

use crate::field_errors::{FieldErrors, FieldPath};
use crate::kinds::common::{dns1123_label, immutable, labels};
use crate::kinds::pod_spec::resources::validate_container_resources;
use crate::kinds::pod_spec::scheduling::validate_tolerations;
use crate::kinds::resource_names;
use crate::strategy::KindRules;

impl KindRules for RuntimeClass {
    fn default_fields(&mut self) {
        if let Some(o) = &mut self.overhead {
            resource_names::default_list(&mut o.pod_fixed);
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        dns1123_label(&mut errs, &self.handler, &FieldPath::new("handler"));
        if let Some(o) = &self.overhead {
            let r = ResourceRequirements { limits: o.pod_fixed.clone(), ..Default::default() };
            validate_container_resources(
                &mut errs,
                Some(&r),
                &Default::default(),
                &FieldPath::new("overhead").child("podFixed"),
            );
        }
        if let Some(s) = &self.scheduling {
            let sp = FieldPath::new("scheduling");
            labels(&mut errs, s.node_selector.as_ref(), &sp.child("nodeSelector"));
            validate_tolerations(&mut errs, s.tolerations.as_deref().unwrap_or_default(), &sp.child("tolerations"));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.handler != old.handler {
            errs.push(immutable(&FieldPath::new("handler"), self.handler.as_str()));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn handler_is_a_dns_label() {
        let info = crate::registry().get("node.k8s.io", "v1", "runtimeclasses").unwrap();
        let err = info
            .strategy
            .admit(info, Operation::Create, json!({"metadata": {"name": "rc"}, "handler": "Run_C"}), None, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(r#"handler: Invalid value: "Run_C": a lowercase RFC 1123 label"#), "{err}");
        let ok = info
            .strategy
            .admit(info, Operation::Create, json!({"metadata": {"name": "rc"}, "handler": "runc"}), None, false)
            .unwrap()
            .object;
        let mut new = ok.clone();
        new["handler"] = json!("crun");
        let err = info.strategy.admit(info, Operation::Update, new, Some(&ok), false).unwrap_err().to_string();
        assert_eq!(err, r#"handler: Invalid value: "crun": field is immutable"#);
    }
}
