//! PersistentVolumeClaims: status starts Pending, the spec needs access modes and a storage
//! request, and after creation only `resources.requests` of bound claims (and a first
//! `volumeName`) may change, as upstream's `ValidatePersistentVolumeClaimUpdate` rules.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, dns1123_label, dns1123_subdomain, label_selector, s, top_level_diff};
use crate::kinds::pod_spec::defaults::default_claim_spec;
use crate::kinds::resource_names;
use crate::quantity::Quantity;
use crate::strategy::KindRules;

pub const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
pub const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

impl KindRules for PersistentVolumeClaim {
    fn prepare_for_create(&mut self) {
        self.status = Some(PersistentVolumeClaimStatus { phase: Some("Pending".to_string()), ..Default::default() });
    }

    fn default_fields(&mut self) {
        default_claim_spec(self.spec.get_or_insert_with(Default::default));
        let status = self.status.get_or_insert_with(Default::default);
        if s(&status.phase).is_empty() {
            status.phase = Some("Pending".to_string());
        }
        resource_names::default_list(&mut status.capacity);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_claim_spec(&mut errs, &self.spec.clone().unwrap_or_default(), &FieldPath::new("spec"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let new_spec = self.spec.clone().unwrap_or_default();
        let old_spec = old.spec.clone().unwrap_or_default();
        let mut new_clone = new_spec.clone();
        let mut old_clone = old_spec.clone();
        // The volume controller binds a claim by setting volumeName once.
        if s(&old_spec.volume_name).is_empty() {
            old_clone.volume_name = new_clone.volume_name.clone();
        }
        let annotation = |p: &PersistentVolumeClaim| {
            p.metadata.annotations.as_ref().and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION)).cloned()
        };
        let (old_ann, new_ann) = (annotation(old), annotation(self));
        let upgrade_from_annotation = old_ann.is_some()
            && old_spec.storage_class_name.is_none()
            && new_spec.storage_class_name.is_some()
            && new_spec.storage_class_name == old_ann
            && (new_ann.is_none() || new_ann == old_ann);
        if upgrade_from_annotation {
            new_clone.storage_class_name = None;
        } else {
            if new_ann != old_ann {
                errs.push(FieldError::invalid(
                    &FieldPath::new("metadata").child("annotations").child(BETA_STORAGE_CLASS_ANNOTATION),
                    new_ann.clone().unwrap_or_default(),
                    IMMUTABLE_MSG,
                ));
            }
            // A class may be set on a claim that had none (and no conflicting annotation).
            if new_spec.storage_class_name.is_some()
                && old_spec.storage_class_name.is_none()
                && (old_ann.is_none() || new_spec.storage_class_name == old_ann)
            {
                new_clone.storage_class_name = old_clone.storage_class_name.clone();
            }
        }
        // Status is the stored one on a main-resource update.
        let bound = old.status.as_ref().and_then(|st| st.phase.as_deref()) == Some("Bound");
        if bound {
            // Bound claims may be resized and change their attributes class.
            if let Some(req) = new_clone.resources.as_mut().and_then(|r| r.requests.as_mut()) {
                match storage(&old_spec) {
                    Some(q) => req.insert("storage".to_string(), q.clone()),
                    None => req.remove("storage"),
                };
            }
            if new_clone.volume_attributes_class_name.is_some() {
                new_clone.volume_attributes_class_name = old_clone.volume_attributes_class_name.clone();
            }
        }
        if new_clone != old_clone {
            let diff = top_level_diff("core.PersistentVolumeClaimSpec", &old_clone, &new_clone);
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec"),
                format!("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{diff}"),
            ));
        }
        let parse = |q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
            q.and_then(|q| Quantity::parse(&q.0).ok()).unwrap_or_default()
        };
        let (new_size, old_size) = (parse(storage(&new_spec)), parse(storage(&old_spec)));
        let status_size = parse(old.status.as_ref().and_then(|st| st.capacity.as_ref()).and_then(|c| c.get("storage")));
        if new_size < old_size && new_size <= status_size {
            // Shrinking is allowed only back towards a failed expansion, never below capacity.
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("resources").child("requests").child("storage"),
                "field can not be less than status.capacity",
            ));
        }
        if new_spec.volume_mode != old_spec.volume_mode {
            errs.push(FieldError::invalid(&FieldPath::new("volumeMode"), s(&new_spec.volume_mode), IMMUTABLE_MSG));
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.spec.as_ref().and_then(|sp| sp.access_modes.as_ref()).is_none_or(Vec::is_empty) {
            // Upstream's path, capital S included.
            errs.push(FieldError::required(&FieldPath::new("Spec").child("accessModes"), ""));
        }
        let cap = FieldPath::new("status").child("capacity");
        for (k, q) in self.status.iter().flat_map(|st| st.capacity.iter().flatten()) {
            if let Some(v) = resource_names::parse(&mut errs, q, &cap.key(k))
                && v.value() < 0
            {
                errs.push(FieldError::invalid(&cap.key(k), v.value(), "must be a valid resource quantity"));
            }
        }
        errs
    }
}

fn storage(spec: &PersistentVolumeClaimSpec) -> Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    spec.resources.as_ref()?.requests.as_ref()?.get("storage")
}

/// Upstream's `ValidatePersistentVolumeClaimSpec`, shared with claim templates.
pub fn validate_claim_spec(errs: &mut FieldErrors, spec: &PersistentVolumeClaimSpec, path: &FieldPath) {
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    if modes.is_empty() {
        errs.push(FieldError::required(&path.child("accessModes"), "at least 1 access mode is required"));
    }
    label_selector(errs, spec.selector.as_ref(), &path.child("selector"));
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(&path.child("accessModes"), m.as_str(), ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            &path.child("accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let sp = path.child("resources").key("storage");
    match storage(spec) {
        None => errs.push(FieldError::required(&sp, "")),
        Some(q) => {
            if let Some(v) = resource_names::parse(errs, q, &sp)
                && resource_names::validate_positive(errs, &v, &sp)
            {
                resource_names::validate_value(errs, "storage", &v, &sp);
            }
        }
    }
    if let Some(sc) = spec.storage_class_name.as_deref().filter(|sc| !sc.is_empty()) {
        dns1123_subdomain(errs, sc, &path.child("storageClassName"));
    }
    if let Some(vm) = spec.volume_mode.as_deref().filter(|vm| !VOLUME_MODES.contains(vm)) {
        errs.push(FieldError::not_supported(&path.child("volumeMode"), vm, VOLUME_MODES));
    }
    if let Some(ds) = &spec.data_source {
        data_source(errs, &ds.name, &ds.kind, ds.api_group.as_deref(), &path.child("dataSource"));
    }
    if let Some(dr) = &spec.data_source_ref {
        let dp = path.child("dataSourceRef");
        data_source(errs, &dr.name, &dr.kind, dr.api_group.as_deref(), &dp);
        if let Some(ns) = dr.namespace.as_deref().filter(|n| !n.is_empty()) {
            dns1123_label(errs, ns, &dp.child("namespace"));
        }
    }
    match (&spec.data_source, &spec.data_source_ref) {
        (Some(_), Some(r)) if r.namespace.as_deref().is_some_and(|n| !n.is_empty()) => {
            errs.push(FieldError::invalid(
                path,
                path.child("dataSource").to_string(),
                "may not be specified when dataSourceRef.namespace is specified",
            ));
        }
        (Some(d), Some(r)) if d.api_group != r.api_group || d.kind != r.kind || d.name != r.name => {
            errs.push(FieldError::invalid(path, path.child("dataSource").to_string(), "must match dataSourceRef"));
        }
        _ => {}
    }
    if let Some(vac) = spec.volume_attributes_class_name.as_deref().filter(|v| !v.is_empty()) {
        dns1123_subdomain(errs, vac, &path.child("volumeAttributesClassName"));
    }
}

fn data_source(errs: &mut FieldErrors, name: &str, kind: &str, api_group: Option<&str>, path: &FieldPath) {
    if name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    if kind.is_empty() {
        errs.push(FieldError::required(&path.child("kind"), ""));
    }
    let group = api_group.unwrap_or("");
    if group.is_empty() && kind != "PersistentVolumeClaim" {
        errs.push(FieldError::invalid(
            path,
            kind,
            "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        ));
    }
    if !group.is_empty() {
        dns1123_subdomain(errs, group, &path.child("apiGroup"));
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("", "v1", "persistentvolumeclaims").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn claim(spec: Value) -> Value {
        json!({"metadata": {"name": "data", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn defaults_and_requires_modes_and_storage() {
        let c = admit(
            Operation::Create,
            claim(json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})),
            None,
        )
        .unwrap();
        assert_eq!(c["spec"]["volumeMode"], "Filesystem");
        assert_eq!(c["status"], json!({"phase": "Pending"}));

        let err = admit(Operation::Create, claim(json!({})), None).unwrap_err();
        assert_eq!(
            err,
            "[spec.accessModes: Required value: at least 1 access mode is required, spec.resources[storage]: Required value]"
        );
        let err = admit(
            Operation::Create,
            claim(json!({"accessModes": ["ReadWriteSome"], "resources": {"requests": {"storage": "0"}}})),
            None,
        )
        .unwrap_err();
        assert!(err.contains(r#"spec.accessModes: Unsupported value: "ReadWriteSome": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod""#), "{err}");
        assert!(err.contains(r#"spec.resources[storage]: Invalid value: "0": must be greater than zero"#), "{err}");
    }

    #[test]
    fn spec_is_immutable_except_growth_of_bound_claims() {
        let old = admit(
            Operation::Create,
            claim(json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})),
            None,
        )
        .unwrap();
        let mut new = old.clone();
        new["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        let err = admit(Operation::Update, new.clone(), Some(&old)).unwrap_err();
        assert!(err.starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"), "{err}");

        let mut bound = old.clone();
        bound["status"] = json!({"phase": "Bound", "capacity": {"storage": "1Gi"}});
        new["status"] = bound["status"].clone();
        assert!(admit(Operation::Update, new.clone(), Some(&bound)).is_ok());

        let mut shrink = bound.clone();
        shrink["spec"]["resources"]["requests"]["storage"] = json!("512Mi");
        let err = admit(Operation::Update, shrink, Some(&bound)).unwrap_err();
        assert_eq!(err, "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity");

        let mut named = old.clone();
        named["spec"]["volumeName"] = json!("pv-1");
        assert!(admit(Operation::Update, named, Some(&old)).is_ok());
    }
}
