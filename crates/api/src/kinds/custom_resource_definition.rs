//! CustomResourceDefinitions: named `<plural>.<group>`, a dotted group, Cluster or Namespaced
//! scope, exactly one storage version, a schema per version, and names in DNS-1035 form; the
//! stored versions track the storage version (upstream's apiextensions validation and strategy).
//!
//! The structural-schema rules for `openAPIV3Schema` beyond its root type are not checked here.

use std::collections::BTreeSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionStatus,
};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, json, s};
use crate::names;
use crate::strategy::KindRules;

fn storage_version(crd: &CustomResourceDefinition) -> Option<String> {
    crd.spec.versions.iter().find(|v| v.storage).map(|v| v.name.clone())
}

impl KindRules for CustomResourceDefinition {
    fn prepare_for_create(&mut self) {
        self.status = Some(CustomResourceDefinitionStatus {
            stored_versions: storage_version(self).map(|v| vec![v]),
            ..Default::default()
        });
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let mut status = old.status.clone().unwrap_or_default();
        if let Some(v) = storage_version(self) {
            let stored = status.stored_versions.get_or_insert_with(Vec::new);
            if !stored.contains(&v) {
                stored.push(v);
            }
        }
        self.status = Some(status);
    }

    fn default_fields(&mut self) {
        let names = &mut self.spec.names;
        if names.singular.as_deref().is_none_or(str::is_empty) {
            names.singular = Some(names.kind.to_lowercase());
        }
        if names.list_kind.as_deref().is_none_or(str::is_empty) && !names.kind.is_empty() {
            names.list_kind = Some(format!("{}List", names.kind));
        }
        if self.spec.conversion.is_none() {
            self.spec.conversion = Some(CustomResourceConversion { strategy: "None".to_string(), webhook: None });
        }
        if let Some(svc) = self
            .spec
            .conversion
            .as_mut()
            .and_then(|c| c.webhook.as_mut())
            .and_then(|w| w.client_config.as_mut())
            .and_then(|c| c.service.as_mut())
        {
            crate::kinds::common::default_to(&mut svc.port, 443);
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let name = self.metadata.name.as_deref().unwrap_or("");
        if !name.is_empty() && name != format!("{}.{}", self.spec.names.plural, self.spec.group) {
            errs.push(FieldError::invalid(
                &FieldPath::new("metadata").child("name"),
                name,
                "must be spec.names.plural+\".\"+spec.group",
            ));
        }
        validate_spec(&mut errs, self);
        if let Some(st) = &self.status
            && let Some(accepted) = &st.accepted_names
        {
            names_format(&mut errs, accepted, &FieldPath::new("status").child("acceptedNames"));
        }
        stored_versions(&mut errs, self);
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let sp = FieldPath::new("spec");
        let established = old
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
        if established {
            if self.spec.scope != old.spec.scope {
                errs.push(FieldError::invalid(&sp.child("scope"), self.spec.scope.as_str(), IMMUTABLE_MSG));
            }
            if self.spec.names.kind != old.spec.names.kind {
                errs.push(FieldError::invalid(
                    &sp.child("names").child("kind"),
                    self.spec.names.kind.as_str(),
                    IMMUTABLE_MSG,
                ));
            }
        }
        if self.spec.group != old.spec.group {
            errs.push(FieldError::invalid(&sp.child("group"), self.spec.group.as_str(), IMMUTABLE_MSG));
        }
        if self.spec.names.plural != old.spec.names.plural {
            errs.push(FieldError::invalid(
                &sp.child("names").child("plural"),
                self.spec.names.plural.as_str(),
                IMMUTABLE_MSG,
            ));
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if let Some(accepted) = self.status.as_ref().and_then(|s| s.accepted_names.as_ref()) {
            names_format(&mut errs, accepted, &FieldPath::new("status").child("acceptedNames"));
        }
        errs
    }
}

fn validate_spec(errs: &mut FieldErrors, crd: &CustomResourceDefinition) {
    let spec = &crd.spec;
    let p = FieldPath::new("spec");
    if spec.group.is_empty() {
        errs.push(FieldError::required(&p.child("group"), ""));
    } else {
        let msgs = names::is_dns1123_subdomain(&spec.group);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&p.child("group"), spec.group.as_str(), msgs.join(",")));
        } else if !spec.group.contains('.') {
            errs.push(FieldError::invalid(
                &p.child("group"),
                spec.group.as_str(),
                "should be a domain with at least one dot",
            ));
        }
    }
    match spec.scope.as_str() {
        "" => errs.push(FieldError::required(&p.child("scope"), "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(FieldError::not_supported(&p.child("scope"), other, &["Cluster", "Namespaced"])),
    }
    let vp = p.child("versions");
    let mut seen = BTreeSet::new();
    let mut unique = true;
    for (i, v) in spec.versions.iter().enumerate() {
        unique &= seen.insert(v.name.as_str());
        let msgs = names::is_dns1035_label(&v.name);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&vp.index(i).child("name"), v.name.as_str(), msgs.join(",")));
        }
        let sp = vp.index(i).child("schema").child("openAPIV3Schema");
        match v.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()) {
            None => errs.push(FieldError::required(&sp, "schemas are required")),
            Some(schema) => match schema.type_.as_deref() {
                None | Some("") => errs.push(FieldError::required(&sp.child("type"), "must not be empty at the root")),
                Some("object") => {}
                Some(t) => errs.push(FieldError::invalid(&sp.child("type"), t, "must be object at the root")),
            },
        }
    }
    if !unique {
        errs.push(FieldError::invalid(&vp, json(&spec.versions), "must contain unique version names"));
    }
    if spec.versions.iter().filter(|v| v.storage).count() != 1 {
        errs.push(FieldError::invalid(
            &vp,
            json(&spec.versions),
            "must have exactly one version marked as storage version",
        ));
    }
    let np = p.child("names");
    let n = &spec.names;
    for (v, f) in [
        (n.plural.as_str(), "plural"),
        (s(&n.singular), "singular"),
        (n.kind.as_str(), "kind"),
        (s(&n.list_kind), "listKind"),
    ] {
        if v.is_empty() {
            errs.push(FieldError::required(&np.child(f), ""));
        }
    }
    names_format(errs, n, &np);
    if let Some(c) = &spec.conversion {
        let cp = p.child("conversion");
        match c.strategy.as_str() {
            "None" => {
                if c.webhook.is_some() {
                    errs.push(FieldError::forbidden(
                        &cp.child("webhook"),
                        "should not be set when strategy is not set to Webhook",
                    ));
                }
            }
            "Webhook" => match &c.webhook {
                None => {
                    errs.push(FieldError::required(&cp.child("webhook"), "required when strategy is set to Webhook"))
                }
                Some(w) => {
                    if w.client_config.is_none() {
                        errs.push(FieldError::required(
                            &cp.child("webhook").child("clientConfig"),
                            "required when strategy is set to Webhook",
                        ));
                    }
                    if w.conversion_review_versions.is_empty() {
                        errs.push(FieldError::required(
                            &cp.child("webhook").child("conversionReviewVersions"),
                            "must include at least one of v1, v1beta1",
                        ));
                    }
                }
            },
            other => errs.push(FieldError::not_supported(&cp.child("strategy"), other, &["None", "Webhook"])),
        }
    }
}

fn names_format(errs: &mut FieldErrors, n: &CustomResourceDefinitionNames, path: &FieldPath) {
    let join = |m: Vec<String>| m.join(",");
    for (v, f) in [(n.plural.as_str(), "plural"), (s(&n.singular), "singular")] {
        let msgs = names::is_dns1035_label(v);
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(FieldError::invalid(&path.child(f), v, join(msgs)));
        }
    }
    for (v, f) in [(n.kind.as_str(), "kind"), (s(&n.list_kind), "listKind")] {
        let msgs = names::is_dns1035_label(&v.to_lowercase());
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &path.child(f),
                v,
                format!("may have mixed case, but should otherwise match: {}", join(msgs)),
            ));
        }
    }
    for (i, sn) in n.short_names.iter().flatten().enumerate() {
        let msgs = names::is_dns1035_label(sn);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&path.child("shortNames").index(i), sn.as_str(), join(msgs)));
        }
    }
    if !n.kind.is_empty() && Some(&n.kind) == n.list_kind.as_ref() {
        errs.push(FieldError::invalid(
            &path.child("listKind"),
            n.kind.as_str(),
            "kind and listKind may not be the same",
        ));
    }
    for (i, c) in n.categories.iter().flatten().enumerate() {
        let msgs = names::is_dns1035_label(c);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&path.child("categories").index(i), c.as_str(), join(msgs)));
        }
    }
}

/// `status.storedVersions` holds the storage version and only versions of the spec.
fn stored_versions(errs: &mut FieldErrors, crd: &CustomResourceDefinition) {
    let Some(stored) = crd.status.as_ref().and_then(|s| s.stored_versions.clone()) else { return };
    let p = FieldPath::new("status").child("storedVersions");
    if stored.is_empty() {
        errs.push(FieldError::invalid(&p, json(&stored), "must have at least one stored version"));
        return;
    }
    for v in &crd.spec.versions {
        if v.storage && !stored.contains(&v.name) {
            errs.push(FieldError::invalid(&p, v.name.as_str(), format!("must have the storage version {}", v.name)));
        }
    }
    for (i, s) in stored.iter().enumerate() {
        if !crd.spec.versions.iter().any(|v| &v.name == s) {
            errs.push(FieldError::invalid(&p.index(i), s.as_str(), "must appear in spec.versions"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("apiextensions.k8s.io", "v1", "customresourcedefinitions").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn crd(name: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    }

    #[test]
    fn defaults_and_stored_versions() {
        let c = admit(Operation::Create, crd("widgets.example.com"), None).unwrap();
        assert_eq!(c["spec"]["names"]["singular"], "widget");
        assert_eq!(c["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
    }

    #[test]
    fn name_scope_and_versions() {
        let err = admit(Operation::Create, crd("widget.example.com"), None).unwrap_err();
        assert_eq!(
            err,
            r#"metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group"#
        );
        let mut two = crd("widgets.example.com");
        two["spec"]["versions"].as_array_mut().unwrap().push(
            json!({"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}),
        );
        two["spec"]["scope"] = json!("Global");
        let err = admit(Operation::Create, two, None).unwrap_err();
        assert!(
            err.contains(r#"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""#),
            "{err}"
        );
        assert!(err.contains(": must have exactly one version marked as storage version"), "{err}");
        let old = admit(Operation::Create, crd("widgets.example.com"), None).unwrap();
        let mut new = old.clone();
        new["spec"]["group"] = json!("example.org");
        new["metadata"]["name"] = json!("widgets.example.org");
        assert!(
            admit(Operation::Update, new, Some(&old))
                .unwrap_err()
                .contains(r#"spec.group: Invalid value: "example.org": field is immutable"#)
        );
    }
}
