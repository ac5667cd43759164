//! The pod's volumes on the node, under `<pod-dir>/volumes/<name>`: emptyDir (disk, or tmpfs for
//! `medium: Memory`), hostPath (with its type checks), and files written from configMap, secret,
//! downwardAPI and projected sources. Containers bind-mount them.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, Volume};
use nix::mount::{MntFlags, MsFlags};

use super::env::{Kind, Sources};
use super::fields;
use crate::runtime::sandbox::is_mount_point;

/// Where each volume of the pod lives on the host.
pub type Prepared = BTreeMap<String, PathBuf>;

pub async fn prepare(pod: &Pod, pod_dir: &Path, sources: &mut Sources) -> Result<Prepared, String> {
    let mut out = Prepared::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let path = prepare_one(pod, v, &pod_dir.join("volumes").join(&v.name), sources)
            .await
            .map_err(|e| format!("volume {:?}: {e}", v.name))?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

async fn prepare_one(pod: &Pod, v: &Volume, dir: &Path, sources: &mut Sources) -> Result<PathBuf, String> {
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()));
    if let Some(e) = &v.empty_dir {
        mkdir(dir)?;
        if e.medium.as_deref() == Some("Memory") && !is_mount_point(dir) {
            let size =
                e.size_limit.as_ref().map(fields::quantity_value).transpose()?.map(|b| format!(",size={}", b as u64));
            let options = format!("mode=1777{}", size.unwrap_or_default());
            nix::mount::mount(
                Some("tmpfs"),
                dir,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(options.as_str()),
            )
            .map_err(|e| format!("mounting tmpfs: {e}"))?;
        } else {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777));
        }
        return Ok(dir.to_path_buf());
    }
    if let Some(h) = &v.host_path {
        let path = PathBuf::from(&h.path);
        check_host_path(&path, h.type_.as_deref().unwrap_or(""))?;
        return Ok(path);
    }
    let keyed = [
        v.config_map
            .as_ref()
            .map(|c| (Kind::ConfigMap, c.name.clone(), c.items.as_deref(), c.optional, c.default_mode)),
        v.secret.as_ref().map(|s| {
            (Kind::Secret, s.secret_name.clone().unwrap_or_default(), s.items.as_deref(), s.optional, s.default_mode)
        }),
    ];
    if let Some((kind, name, items, optional, mode)) = keyed.into_iter().flatten().next() {
        let files = keyed_files(sources, kind, &name, items, optional).await?;
        write_files(dir, &files, mode.unwrap_or(0o644))?;
        return Ok(dir.to_path_buf());
    }
    if let Some(d) = &v.downward_api {
        let files = downward(pod, d.items.as_deref().unwrap_or_default())?;
        write_files(dir, &files, d.default_mode.unwrap_or(0o644))?;
        return Ok(dir.to_path_buf());
    }
    if let Some(p) = &v.projected {
        let mut files = Vec::new();
        for source in p.sources.iter().flatten() {
            if let Some(c) = &source.config_map {
                files.extend(keyed_files(sources, Kind::ConfigMap, &c.name, c.items.as_deref(), c.optional).await?);
            }
            if let Some(s) = &source.secret {
                files.extend(keyed_files(sources, Kind::Secret, &s.name, s.items.as_deref(), s.optional).await?);
            }
            if let Some(d) = &source.downward_api {
                files.extend(downward(pod, d.items.as_deref().unwrap_or_default())?);
            }
            if source.service_account_token.is_some() {
                return Err("serviceAccountToken projections are not supported by this agent yet".into());
            }
        }
        write_files(dir, &files, p.default_mode.unwrap_or(0o644))?;
        return Ok(dir.to_path_buf());
    }
    Err("this volume type is not supported by the agent yet".into())
}

/// (relative path, content, mode) of each file to write.
type File = (String, String, Option<i32>);

/// The files of a ConfigMap or Secret source (none when it is missing and optional).
async fn keyed_files(
    sources: &mut Sources,
    kind: Kind,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Vec<File>, String> {
    let optional = optional == Some(true);
    match sources.required(kind, name, optional).await? {
        Some(c) => select(&c.all(), items, optional, name),
        None => Ok(Vec::new()),
    }
}

/// The files of a ConfigMap or Secret: all keys, or only `items` (a missing key is an error
/// unless the source is optional).
fn select(
    all: &BTreeMap<String, String>,
    items: Option<&[KeyToPath]>,
    optional: bool,
    source: &str,
) -> Result<Vec<File>, String> {
    match items {
        None => Ok(all.iter().map(|(k, v)| (k.clone(), v.clone(), None)).collect()),
        Some(items) => {
            let mut out = Vec::new();
            for i in items {
                match all.get(&i.key) {
                    Some(v) => out.push((i.path.clone(), v.clone(), i.mode)),
                    None if optional => {}
                    None => return Err(format!("couldn't find key {} in {source}", i.key)),
                }
            }
            Ok(out)
        }
    }
}

fn downward(pod: &Pod, items: &[DownwardAPIVolumeFile]) -> Result<Vec<File>, String> {
    let container = pod.spec.as_ref().and_then(|s| s.containers.first()).cloned().unwrap_or_default();
    items
        .iter()
        .map(|i| {
            let value = if let Some(f) = &i.field_ref {
                fields::field(pod, &f.field_path).ok_or_else(|| format!("unsupported fieldPath {:?}", f.field_path))?
            } else if let Some(r) = &i.resource_field_ref {
                fields::resource(pod, &container, r)?
            } else {
                String::new()
            };
            Ok((i.path.clone(), value, i.mode))
        })
        .collect()
}

fn write_files(dir: &Path, files: &[File], default_mode: i32) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (rel, content, mode) in files {
        if rel.split('/').any(|p| p == "..") || rel.starts_with('/') {
            return Err(format!("invalid path {rel:?}"));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        let mode = mode.unwrap_or(default_mode) as u32 & 0o7777;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// hostPath's `type` checks, creating what `…OrCreate` asks for.
fn check_host_path(path: &Path, kind: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path);
    let want = |ok: bool, what: &str| {
        if ok { Ok(()) } else { Err(format!("hostPath type check failed: {} is not a {what}", path.display())) }
    };
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
                return Ok(());
            }
            want(meta.map(|m| m.is_dir()).unwrap_or(false), "directory")
        }
        "FileOrCreate" => {
            if meta.is_err() {
                if let Some(p) = path.parent() {
                    std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
                }
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
                return Ok(());
            }
            want(meta.map(|m| m.is_file()).unwrap_or(false), "file")
        }
        _ => {
            let m = meta.map_err(|_| format!("hostPath type check failed: {} does not exist", path.display()))?;
            let t = m.file_type();
            match kind {
                "Directory" => want(t.is_dir(), "directory"),
                "File" => want(t.is_file(), "file"),
                "Socket" => want(t.is_socket(), "socket"),
                "CharDevice" => want(t.is_char_device(), "character device"),
                "BlockDevice" => want(t.is_block_device(), "block device"),
                other => Err(format!("unknown hostPath type {other:?}")),
            }
        }
    }
}

/// Unmount memory-backed emptyDirs (everything else goes with the pod dir).
pub fn teardown(pod_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(pod_dir.join("volumes")) else { return };
    for e in entries.flatten() {
        if is_mount_point(&e.path())
            && let Err(err) = nix::mount::umount2(&e.path(), MntFlags::MNT_DETACH)
        {
            tracing::warn!("unmounting {}: {err}", e.path().display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_types() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        check_host_path(&sub, "DirectoryOrCreate").unwrap();
        assert!(sub.is_dir());
        assert!(check_host_path(&sub, "File").unwrap_err().contains("is not a file"));
        assert!(check_host_path(&dir.path().join("none"), "Directory").unwrap_err().contains("does not exist"));
        check_host_path(&dir.path().join("f"), "FileOrCreate").unwrap();
        check_host_path(&dir.path().join("f"), "File").unwrap();
    }

    #[test]
    fn items_pick_keys_and_refuse_escapes() {
        let all: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let items = [KeyToPath { key: "a".into(), path: "x/y".into(), mode: Some(0o600) }];
        assert_eq!(
            select(&all, Some(&items), false, "cm").unwrap(),
            [("x/y".to_string(), "1".to_string(), Some(0o600))]
        );
        let missing = [KeyToPath { key: "b".into(), path: "b".into(), mode: None }];
        assert!(select(&all, Some(&missing), false, "cm").is_err());
        assert!(select(&all, Some(&missing), true, "cm").unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        assert!(write_files(dir.path(), &[("../x".into(), String::new(), None)], 0o644).is_err());
    }
}
