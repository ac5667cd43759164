//! PersistentVolumes: created Pending (with the phase transition time), reclaim policy Retain
//! and volume mode Filesystem by default; the volume source, mode and node affinity are fixed
//! after creation (upstream's `ValidatePersistentVolume(Update)`).

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeSpec, PersistentVolumeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    IMMUTABLE_MSG, default_str, dns1123_subdomain, json, not_supported_repr, s, top_level_diff,
};
use crate::kinds::persistent_volume_claim::{ACCESS_MODES, VOLUME_MODES};
use crate::kinds::pod_spec::scheduling::validate_node_selector;
use crate::kinds::resource_names;
use crate::strategy::KindRules;

const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];

impl KindRules for PersistentVolume {
    fn prepare_for_create(&mut self) {
        let now = jiff::Timestamp::from_second(crate::time::now_secs()).unwrap_or_default();
        self.status = Some(PersistentVolumeStatus {
            phase: Some("Pending".to_string()),
            last_phase_transition_time: Some(Time(now)),
            ..Default::default()
        });
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_str(&mut spec.persistent_volume_reclaim_policy, "Retain");
        default_str(&mut spec.volume_mode, "Filesystem");
        resource_names::default_list(&mut spec.capacity);
        if let Some(h) = &mut spec.host_path {
            crate::kinds::common::default_to(&mut h.type_, String::new());
        }
        let status = self.status.get_or_insert_with(Default::default);
        default_str(&mut status.phase, "Pending");
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_spec(&mut errs, &self.spec.clone().unwrap_or_default(), &FieldPath::new("spec"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let (new, old) = (self.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
        let mut new_source = source_only(&new);
        let old_source = source_only(&old);
        // A CSI expansion secret may be added later.
        if let (Some(o), Some(n)) = (&old_source.csi, &mut new_source.csi)
            && o.controller_expand_secret_ref.is_none()
        {
            n.controller_expand_secret_ref = None;
        }
        if new_source != old_source {
            let diff = top_level_diff("core.PersistentVolumeSource", &old_source, &new_source);
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("persistentvolumesource"),
                format!("spec.persistentvolumesource is immutable after creation\n{diff}"),
            ));
        }
        if new.volume_mode != old.volume_mode {
            errs.push(FieldError::invalid(&FieldPath::new("volumeMode"), s(&new.volume_mode), IMMUTABLE_MSG));
        }
        if old.node_affinity.is_some() && new.node_affinity != old.node_affinity {
            errs.push(FieldError::invalid(
                &FieldPath::new("nodeAffinity"),
                json(&new.node_affinity),
                "field is immutable, except for updating from beta label to GA",
            ));
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        FieldErrors::new()
    }
}

/// The volume source part of a spec (everything that says where the data lives).
fn source_only(spec: &PersistentVolumeSpec) -> PersistentVolumeSpec {
    PersistentVolumeSpec {
        access_modes: None,
        capacity: None,
        claim_ref: None,
        mount_options: None,
        node_affinity: None,
        persistent_volume_reclaim_policy: None,
        storage_class_name: None,
        volume_attributes_class_name: None,
        volume_mode: None,
        ..spec.clone()
    }
}

fn validate_spec(errs: &mut FieldErrors, spec: &PersistentVolumeSpec, path: &FieldPath) {
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    if modes.is_empty() {
        errs.push(FieldError::required(&path.child("accessModes"), ""));
    }
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
    let cap = spec.capacity.clone().unwrap_or_default();
    let cp = path.child("capacity");
    if cap.is_empty() {
        errs.push(FieldError::required(&cp, ""));
    }
    if !cap.contains_key("storage") || cap.len() > 1 {
        let repr = if spec.capacity.is_none() {
            "core.ResourceList(nil)".to_string()
        } else {
            let parts: Vec<String> = cap.iter().map(|(k, v)| format!("{k:?}:{:?}", v.0)).collect();
            format!("core.ResourceList{{{}}}", parts.join(", "))
        };
        errs.push(not_supported_repr(&cp, repr, &["storage"]));
    }
    for (k, q) in &cap {
        if let Some(v) = resource_names::parse(errs, q, &cp.key(k)) {
            if v.value() < 0 {
                errs.push(FieldError::invalid(&cp.key(k), v.value(), "must be a valid resource quantity"));
            }
            resource_names::validate_positive(errs, &v, &cp.key(k));
        }
    }
    let reclaim = s(&spec.persistent_volume_reclaim_policy);
    if !reclaim.is_empty() && !RECLAIM_POLICIES.contains(&reclaim) {
        errs.push(FieldError::not_supported(&path.child("persistentVolumeReclaimPolicy"), reclaim, RECLAIM_POLICIES));
    }
    let mut affinity_set = false;
    if let Some(na) = &spec.node_affinity {
        affinity_set = true;
        match &na.required {
            Some(r) => validate_node_selector(errs, r, false, &path.child("nodeAffinity").child("required")),
            None => errs.push(FieldError::required(
                &path.child("nodeAffinity").child("required"),
                "must specify required node constraints",
            )),
        }
    }
    validate_source(errs, spec, affinity_set, path);
    if spec.host_path.as_ref().is_some_and(|h| h.path.trim_end_matches('/').is_empty() && h.path.starts_with('/'))
        && reclaim == "Recycle"
    {
        errs.push(FieldError::forbidden(
            &path.child("persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    if !s(&spec.storage_class_name).is_empty() {
        dns1123_subdomain(errs, s(&spec.storage_class_name), &path.child("storageClassName"));
    }
    if let Some(vm) = spec.volume_mode.as_deref().filter(|v| !VOLUME_MODES.contains(v)) {
        errs.push(FieldError::not_supported(&path.child("volumeMode"), vm, VOLUME_MODES));
    }
}

/// Exactly one volume source, with the required fields of the common ones.
fn validate_source(errs: &mut FieldErrors, spec: &PersistentVolumeSpec, affinity_set: bool, path: &FieldPath) {
    let present = [
        (spec.host_path.is_some(), "hostPath"),
        (spec.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (spec.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (spec.glusterfs.is_some(), "glusterfs"),
        (spec.flocker.is_some(), "flocker"),
        (spec.nfs.is_some(), "nfs"),
        (spec.rbd.is_some(), "rbd"),
        (spec.quobyte.is_some(), "quobyte"),
        (spec.cephfs.is_some(), "cephFS"),
        (spec.iscsi.is_some(), "iscsi"),
        (spec.cinder.is_some(), "cinder"),
        (spec.fc.is_some(), "fc"),
        (spec.flex_volume.is_some(), "flexVolume"),
        (spec.azure_file.is_some(), "azureFile"),
        (spec.vsphere_volume.is_some(), "vsphereVolume"),
        (spec.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (spec.portworx_volume.is_some(), "portworxVolume"),
        (spec.azure_disk.is_some(), "azureDisk"),
        (spec.scale_io.is_some(), "scaleIO"),
        (spec.local.is_some(), "local"),
        (spec.storageos.is_some(), "storageos"),
        (spec.csi.is_some(), "csi"),
    ];
    let mut count = 0;
    for (set, field) in present {
        if !set {
            continue;
        }
        // Upstream never counts flexVolume as a second source.
        if count > 0 && field != "flexVolume" {
            errs.push(FieldError::forbidden(&path.child(field), "may not specify more than 1 volume type"));
            continue;
        }
        count += 1;
        let p = path.child(field);
        match field {
            "hostPath" => {
                let h = spec.host_path.as_ref().expect("present");
                if h.path.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                } else {
                    crate::kinds::pod_spec::volumes::path_no_backsteps(errs, &h.path, &p.child("path"));
                }
            }
            "nfs" => {
                let n = spec.nfs.as_ref().expect("present");
                if n.server.is_empty() {
                    errs.push(FieldError::required(&p.child("server"), ""));
                }
                if n.path.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                }
                if !n.path.starts_with('/') {
                    errs.push(FieldError::invalid(&p.child("path"), n.path.as_str(), "must be an absolute path"));
                }
            }
            "local" => {
                let l = spec.local.as_ref().expect("present");
                if l.path.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                } else {
                    crate::kinds::pod_spec::volumes::path_no_backsteps(errs, &l.path, &p.child("path"));
                }
                if !affinity_set {
                    errs.push(FieldError::required(&path.child("nodeAffinity"), "Local volume requires node affinity"));
                }
            }
            "csi" => {
                let c = spec.csi.as_ref().expect("present");
                if c.driver.is_empty() {
                    errs.push(FieldError::required(&p.child("driver"), ""));
                }
                if c.volume_handle.is_empty() {
                    errs.push(FieldError::required(&p.child("volumeHandle"), ""));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("", "v1", "persistentvolumes").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn pv() -> Value {
        json!({"metadata": {"name": "pv1"}, "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}, "hostPath": {"path": "/data"}}})
    }

    #[test]
    fn defaults_and_validation() {
        let p = admit(Operation::Create, pv(), None).unwrap();
        assert_eq!(p["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(p["spec"]["volumeMode"], "Filesystem");
        assert_eq!(p["status"]["phase"], "Pending");
        assert!(p["status"]["lastPhaseTransitionTime"].is_string());
        let err = admit(Operation::Create, json!({"metadata": {"name": "pv1"}, "spec": {}}), None).unwrap_err();
        assert_eq!(
            err,
            "[spec.accessModes: Required value, spec.capacity: Required value, spec.capacity: Unsupported value: core.ResourceList(nil): supported values: \"storage\", spec: Required value: must specify a volume type]"
        );
    }

    #[test]
    fn source_is_immutable() {
        let old = admit(Operation::Create, pv(), None).unwrap();
        let mut new = old.clone();
        new["spec"]["hostPath"]["path"] = json!("/other");
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert!(
            err.starts_with(
                "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"
            ),
            "{err}"
        );
        let mut resized = old.clone();
        resized["spec"]["capacity"]["storage"] = json!("20Gi");
        assert!(admit(Operation::Update, resized, Some(&old)).is_ok());
    }
}
