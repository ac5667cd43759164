//! Validation of pod volumes, as upstream's `ValidateVolumes` and `validateVolumeSource`: unique
//! DNS-label names, exactly one source each, and the required fields of the common sources.
//!
//! Cloud and legacy in-tree sources are counted (so "one source each" holds) and get their
//! required-field checks; their deeper format rules (iSCSI IQNs, Azure URIs, ...) are not here.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{KeyToPath, Volume};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{dns1123_label, inclusive_range, s};
use crate::kinds::pod_spec::container::{validate_object_field_selector, validate_resource_field_selector};
use crate::names;

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const VOLUME_FIELD_PATHS: &[&str] =
    &["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];

/// Validate the volume list; returns the volumes that passed, by name, for mount checks.
pub fn validate_volumes<'a>(
    errs: &mut FieldErrors,
    volumes: &'a [Volume],
    pod_name: Option<&str>,
    path: &FieldPath,
) -> BTreeMap<String, &'a Volume> {
    let created_claims: BTreeSet<String> = match pod_name.filter(|n| !n.is_empty()) {
        Some(pod) => volumes.iter().filter(|v| v.ephemeral.is_some()).map(|v| format!("{pod}-{}", v.name)).collect(),
        None => BTreeSet::new(),
    };
    let mut valid = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        let mut el = FieldErrors::new();
        validate_source(&mut el, v, pod_name, &p);
        if v.name.is_empty() {
            el.push(FieldError::required(&p.child("name"), ""));
        } else {
            dns1123_label(&mut el, &v.name, &p.child("name"));
        }
        if valid.contains_key(&v.name) {
            el.push(FieldError::duplicate(&p.child("name"), v.name.as_str()));
        }
        if el.is_empty() {
            valid.insert(v.name.clone(), v);
        } else {
            errs.extend(el);
        }
        if let Some(c) = &v.persistent_volume_claim
            && created_claims.contains(&c.claim_name)
        {
            errs.push(FieldError::invalid(
                &p.child("persistentVolumeClaim").child("claimName"),
                c.claim_name.as_str(),
                "must not reference a PVC that gets created for an ephemeral volume",
            ));
        }
    }
    valid
}

/// Exactly one source; the first one found is validated, later ones are "more than 1".
fn validate_source(errs: &mut FieldErrors, v: &Volume, pod_name: Option<&str>, path: &FieldPath) {
    let mut count = 0;
    // Upstream's order; the downward API one reports under its historical misspelling.
    let present: [(bool, &str); 30] = [
        (v.empty_dir.is_some(), "emptyDir"),
        (v.host_path.is_some(), "hostPath"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.secret.is_some(), "secret"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.flocker.is_some(), "flocker"),
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.rbd.is_some(), "rbd"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephFS"),
        (v.quobyte.is_some(), "quobyte"),
        (v.downward_api.is_some(), "downwarAPI"),
        (v.fc.is_some(), "fc"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.config_map.is_some(), "configMap"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.storageos.is_some(), "storageos"),
        (v.projected.is_some(), "projected"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.csi.is_some(), "csi"),
        (v.ephemeral.is_some(), "ephemeral"),
        (v.image.is_some(), "image"),
    ];
    for (set, field) in present {
        if !set {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(&path.child(field), "may not specify more than 1 volume type"));
            continue;
        }
        count += 1;
        validate_one(errs, v, field, pod_name, path);
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
}

fn required(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    if value.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
}

fn file_mode(errs: &mut FieldErrors, mode: Option<i32>, path: &FieldPath) {
    if let Some(m) = mode.filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(path, m, FILE_MODE_MSG));
    }
}

fn validate_one(errs: &mut FieldErrors, v: &Volume, field: &str, pod_name: Option<&str>, path: &FieldPath) {
    let p = path.child(field);
    match field {
        "emptyDir" => {
            let negative = v
                .empty_dir
                .as_ref()
                .and_then(|e| e.size_limit.as_ref())
                .and_then(|q| crate::quantity::Quantity::parse(&q.0).ok())
                .is_some_and(|q| q.is_negative());
            if negative {
                errs.push(FieldError::forbidden(
                    &p.child("sizeLimit"),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
        "hostPath" => {
            let Some(h) = &v.host_path else { return };
            if h.path.is_empty() {
                errs.push(FieldError::required(&p.child("path"), ""));
                return;
            }
            path_no_backsteps(errs, &h.path, &p.child("path"));
            const TYPES: &[&str] =
                &["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];
            if let Some(t) = h.type_.as_deref().filter(|t| !TYPES.contains(t)) {
                errs.push(FieldError::not_supported(&p.child("type"), t, TYPES));
            }
        }
        "gitRepo" => {
            let Some(g) = &v.git_repo else { return };
            required(errs, &g.repository, &p.child("repository"));
            local_descending_path(errs, s(&g.directory), &p.child("directory"));
        }
        "gcePersistentDisk" => {
            let Some(g) = &v.gce_persistent_disk else { return };
            // Upstream validates this source under a different child name.
            let gp = path.child("persistentDisk");
            required(errs, &g.pd_name, &gp.child("pdName"));
            if let Some(part) = g.partition.filter(|p| !(0..=255).contains(p)) {
                errs.push(FieldError::invalid(&gp.child("partition"), part, inclusive_range(1, 255)));
            }
        }
        "awsElasticBlockStore" => {
            let Some(a) = &v.aws_elastic_block_store else { return };
            required(errs, &a.volume_id, &p.child("volumeID"));
            if let Some(part) = a.partition.filter(|p| !(0..=255).contains(p)) {
                errs.push(FieldError::invalid(&p.child("partition"), part, inclusive_range(1, 255)));
            }
        }
        "secret" => {
            let Some(sec) = &v.secret else { return };
            required(errs, s(&sec.secret_name), &p.child("secretName"));
            file_mode(errs, sec.default_mode, &p.child("defaultMode"));
            for (i, kp) in sec.items.iter().flatten().enumerate() {
                key_to_path(errs, kp, &p.child("items").index(i));
            }
        }
        "nfs" => {
            let Some(n) = &v.nfs else { return };
            required(errs, &n.server, &p.child("server"));
            required(errs, &n.path, &p.child("path"));
            if !n.path.starts_with('/') {
                errs.push(FieldError::invalid(&p.child("path"), n.path.as_str(), "must be an absolute path"));
            }
        }
        "iscsi" => {
            let Some(i) = &v.iscsi else { return };
            required(errs, &i.target_portal, &p.child("targetPortal"));
            required(errs, &i.iqn, &p.child("iqn"));
            if !(0..=255).contains(&i.lun) {
                errs.push(FieldError::invalid(&p.child("lun"), i.lun, inclusive_range(0, 255)));
            }
        }
        "glusterfs" => {
            let Some(g) = &v.glusterfs else { return };
            required(errs, &g.endpoints, &p.child("endpoints"));
            required(errs, &g.path, &p.child("path"));
        }
        "persistentVolumeClaim" => {
            let Some(c) = &v.persistent_volume_claim else { return };
            required(errs, &c.claim_name, &p.child("claimName"));
        }
        "rbd" => {
            let Some(r) = &v.rbd else { return };
            if r.monitors.is_empty() {
                errs.push(FieldError::required(&p.child("monitors"), ""));
            }
            required(errs, &r.image, &p.child("image"));
        }
        "cinder" => {
            let Some(c) = &v.cinder else { return };
            required(errs, &c.volume_id, &p.child("volumeID"));
        }
        "cephFS" => {
            let Some(c) = &v.cephfs else { return };
            if c.monitors.is_empty() {
                errs.push(FieldError::required(&path.child("cephfs").child("monitors"), ""));
            }
        }
        "downwarAPI" => {
            let Some(d) = &v.downward_api else { return };
            let dp = path.child("downwardAPI");
            file_mode(errs, d.default_mode, &dp.child("defaultMode"));
            for f in d.items.iter().flatten() {
                downward_api_file(errs, f, &dp);
            }
        }
        "flexVolume" => {
            let Some(f) = &v.flex_volume else { return };
            required(errs, &f.driver, &p.child("driver"));
        }
        "configMap" => {
            let Some(c) = &v.config_map else { return };
            required(errs, &c.name, &p.child("name"));
            file_mode(errs, c.default_mode, &p.child("defaultMode"));
            for (i, kp) in c.items.iter().flatten().enumerate() {
                key_to_path(errs, kp, &p.child("items").index(i));
            }
        }
        "azureFile" => {
            let Some(a) = &v.azure_file else { return };
            required(errs, &a.secret_name, &p.child("secretName"));
            required(errs, &a.share_name, &p.child("shareName"));
        }
        "azureDisk" => {
            let Some(a) = &v.azure_disk else { return };
            required(errs, &a.disk_name, &p.child("diskName"));
            required(errs, &a.disk_uri, &p.child("diskURI"));
        }
        "projected" => {
            let Some(pr) = &v.projected else { return };
            file_mode(errs, pr.default_mode, &p.child("defaultMode"));
            validate_projection(errs, pr, &p);
        }
        "csi" => {
            let Some(c) = &v.csi else { return };
            if c.driver.is_empty() {
                errs.push(FieldError::required(&p.child("driver"), ""));
            } else {
                csi_driver_name(errs, &c.driver, &p.child("driver"));
            }
            if let Some(r) = &c.node_publish_secret_ref
                && r.name.is_empty()
            {
                errs.push(FieldError::required(&p.child("nodePublishSecretRef").child("name"), ""));
            }
        }
        "ephemeral" => {
            let Some(e) = &v.ephemeral else { return };
            let Some(t) = &e.volume_claim_template else {
                errs.push(FieldError::required(&p.child("volumeClaimTemplate"), ""));
                return;
            };
            let tp = p.child("volumeClaimTemplate");
            if let Some(m) = &t.metadata {
                crate::kinds::common::labels(errs, m.labels.as_ref(), &tp.child("metadata").child("labels"));
                crate::kinds::common::annotations(
                    errs,
                    m.annotations.as_ref(),
                    &tp.child("metadata").child("annotations"),
                );
            }
            crate::kinds::persistent_volume_claim::validate_claim_spec(errs, &t.spec, &tp.child("spec"));
            if let Some(pod) = pod_name.filter(|n| !n.is_empty())
                && !v.name.is_empty()
            {
                let claim = format!("{pod}-{}", v.name);
                for m in names::is_dns1123_subdomain(&claim) {
                    errs.push(FieldError::invalid(
                        &path.child("name"),
                        v.name.as_str(),
                        format!("PVC name {claim:?}: {m}"),
                    ));
                }
            }
        }
        _ => {}
    }
}

/// A CSI driver name: a DNS subdomain of at most 63 characters, letters may be uppercase.
fn csi_driver_name(errs: &mut FieldErrors, driver: &str, path: &FieldPath) {
    if driver.len() > 63 {
        errs.push(FieldError::too_long(path, 63));
    }
    for m in names::is_dns1123_subdomain(&driver.to_lowercase()) {
        errs.push(FieldError::invalid(path, driver, m));
    }
}

fn key_to_path(errs: &mut FieldErrors, kp: &KeyToPath, path: &FieldPath) {
    required(errs, &kp.key, &path.child("key"));
    required(errs, &kp.path, &path.child("path"));
    local_non_reserved_path(errs, &kp.path, &path.child("path"));
    file_mode(errs, kp.mode, &path.child("mode"));
}

fn downward_api_file(errs: &mut FieldErrors, f: &k8s_openapi::api::core::v1::DownwardAPIVolumeFile, path: &FieldPath) {
    required(errs, &f.path, &path.child("path"));
    local_non_reserved_path(errs, &f.path, &path.child("path"));
    if let Some(r) = &f.field_ref {
        validate_object_field_selector(errs, r, VOLUME_FIELD_PATHS, &path.child("fieldRef"));
        if f.resource_field_ref.is_some() {
            errs.push(FieldError::invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(r) = &f.resource_field_ref {
        validate_resource_field_selector(errs, r, true, &path.child("resourceFieldRef"));
    } else {
        errs.push(FieldError::required(path, "one of fieldRef and resourceFieldRef is required"));
    }
    file_mode(errs, f.mode, &path.child("mode"));
}

fn validate_projection(
    errs: &mut FieldErrors,
    pr: &k8s_openapi::api::core::v1::ProjectedVolumeSource,
    path: &FieldPath,
) {
    let mut all_paths = BTreeSet::new();
    for (i, src) in pr.sources.iter().flatten().enumerate() {
        let sp = path.child("sources").index(i);
        let mut n = 0;
        let mut note_path = |errs: &mut FieldErrors, p: &str, value: &str| {
            if !p.is_empty() && !all_paths.insert(p.to_string()) {
                errs.push(FieldError::invalid(path, value, "conflicting duplicate paths"));
            }
        };
        if let Some(sec) = &src.secret {
            n += 1;
            let pp = sp.child("secret");
            required(errs, &sec.name, &pp.child("name"));
            for (j, kp) in sec.items.iter().flatten().enumerate() {
                key_to_path(errs, kp, &pp.child("items").index(j));
                note_path(errs, &kp.path, &sec.name);
            }
        }
        if let Some(cm) = &src.config_map {
            n += 1;
            let pp = sp.child("configMap");
            required(errs, &cm.name, &pp.child("name"));
            for (j, kp) in cm.items.iter().flatten().enumerate() {
                key_to_path(errs, kp, &pp.child("items").index(j));
                note_path(errs, &kp.path, &cm.name);
            }
        }
        if let Some(d) = &src.downward_api {
            n += 1;
            for f in d.items.iter().flatten() {
                downward_api_file(errs, f, &sp.child("downwardAPI"));
                note_path(errs, &f.path, &f.path);
            }
        }
        if let Some(t) = &src.service_account_token {
            n += 1;
            let pp = sp.child("serviceAccountToken");
            let exp = t.expiration_seconds.unwrap_or(0);
            if exp < 600 {
                errs.push(FieldError::invalid(
                    &pp.child("expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    &pp.child("expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if t.path.is_empty() {
                errs.push(FieldError::required(&path.child("path"), ""));
            } else {
                local_non_reserved_path(errs, &t.path, &path.child("path"));
            }
        }
        if let Some(b) = &src.cluster_trust_bundle {
            n += 1;
            let pp = sp.child("clusterTrustBundle");
            match (&b.name, &b.signer_name) {
                (Some(_), Some(_)) => errs.push(FieldError::invalid(
                    &pp,
                    crate::kinds::common::json(b),
                    "only one of name and signerName may be used",
                )),
                (None, None) => errs.push(FieldError::required(&pp, "either name or signerName must be specified")),
                _ => {}
            }
            required(errs, &b.path, &pp.child("path"));
            local_non_reserved_path(errs, &b.path, &pp.child("path"));
            note_path(errs, &b.path, &b.path);
        }
        if n > 1 {
            errs.push(FieldError::forbidden(&sp, "may not specify more than 1 volume type per source"));
        }
    }
}

/// No `..` path elements.
pub fn path_no_backsteps(errs: &mut FieldErrors, target: &str, path: &FieldPath) {
    if target.replace('\\', "/").split('/').any(|p| p == "..") {
        errs.push(FieldError::invalid(path, target, "must not contain '..'"));
    }
}

/// Relative, and no `..` elements.
pub fn local_descending_path(errs: &mut FieldErrors, target: &str, path: &FieldPath) {
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    path_no_backsteps(errs, target, path);
}

/// Relative, no `..` elements, and not starting with `..`.
pub fn local_non_reserved_path(errs: &mut FieldErrors, target: &str, path: &FieldPath) {
    local_descending_path(errs, target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(path, target, "must not start with '..'"));
    }
}
