//! One container's runtime spec from its pod: command and args merged with the image's
//! ENTRYPOINT/CMD as Kubernetes does, user and groups, security context, resources, mounts.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};

use super::fields::quantity_value;
use super::files::PodFiles;
use super::volumes::Prepared;
use crate::runtime::sandbox::Sandbox;
use crate::runtime::spec::{self, ContainerSpec, Mount};

/// What the image says about how to run it.
pub struct ImageDefaults<'a> {
    pub entrypoint: &'a [String],
    pub cmd: &'a [String],
    pub working_dir: &'a str,
    pub user: &'a str,
}

/// Kubernetes' rule: `command` replaces ENTRYPOINT (and drops CMD), `args` replaces CMD.
pub fn argv(container: &Container, image: &ImageDefaults) -> Vec<String> {
    match (&container.command, &container.args) {
        (Some(cmd), args) if !cmd.is_empty() => cmd.iter().chain(args.iter().flatten()).cloned().collect(),
        (_, Some(args)) if !args.is_empty() => image.entrypoint.iter().chain(args).cloned().collect(),
        _ => image.entrypoint.iter().chain(image.cmd).cloned().collect(),
    }
}

/// Everything else a container spec needs besides the pod and container.
pub struct Inputs<'a> {
    pub image: ImageDefaults<'a>,
    pub rootfs: &'a Path,
    pub env: Vec<String>,
    pub volumes: &'a Prepared,
    pub files: &'a PodFiles,
    pub sandbox: &'a Sandbox,
    pub cgroup: String,
    /// The file behind terminationMessagePath.
    pub termination_log: PathBuf,
}

/// Build the spec; errors are CreateContainerConfigError messages.
pub fn build(pod: &Pod, c: &Container, inputs: Inputs) -> Result<ContainerSpec, String> {
    let pod_spec = pod.spec.clone().unwrap_or_default();
    let pod_sc = pod_spec.security_context.clone().unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let args = argv(c, &inputs.image);
    if args.is_empty() {
        return Err("no command specified".into());
    }
    let (image_uid, image_gid) = resolve_user(inputs.image.user, inputs.rootfs)?;
    let uid = sc.run_as_user.or(pod_sc.run_as_user).map(|u| u as u32).unwrap_or(image_uid);
    let gid = sc.run_as_group.or(pod_sc.run_as_group).map(|g| g as u32).unwrap_or(image_gid);
    if sc.run_as_non_root.or(pod_sc.run_as_non_root) == Some(true) && uid == 0 {
        return Err(if sc.run_as_user.or(pod_sc.run_as_user).is_some() {
            "container's runAsUser breaks non-root policy".into()
        } else {
            "container has runAsNonRoot and image will run as root".into()
        });
    }
    let mut additional_gids: Vec<u32> = pod_sc.supplemental_groups.iter().flatten().map(|g| *g as u32).collect();
    if let Some(fs) = pod_sc.fs_group {
        additional_gids.push(fs as u32);
    }
    let privileged = sc.privileged == Some(true);
    let caps = sc.capabilities.clone().unwrap_or_default();
    let capabilities =
        spec::capabilities(caps.add.as_deref().unwrap_or_default(), caps.drop.as_deref().unwrap_or_default());

    let mut mounts = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let source = inputs.volumes.get(&m.name).ok_or_else(|| format!("volume {:?} not found in the pod", m.name))?;
        let source = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                if sub.split('/').any(|p| p == "..") || sub.starts_with('/') {
                    return Err(format!("subPath {sub:?} must be a relative path within the volume"));
                }
                let p = source.join(sub);
                if !p.exists() {
                    std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                }
                p
            }
            None => source.clone(),
        };
        mounts.push(Mount::bind(source, &m.mount_path, m.read_only == Some(true)));
    }
    let mounted = |dest: &str| c.volume_mounts.iter().flatten().any(|m| m.mount_path == dest);
    if !mounted("/etc/hosts") {
        mounts.push(Mount::bind(inputs.files.hosts.clone(), "/etc/hosts", false));
    }
    if !mounted("/etc/resolv.conf") {
        mounts.push(Mount::bind(inputs.files.resolv_conf.clone(), "/etc/resolv.conf", false));
    }
    if !mounted("/etc/hostname") {
        mounts.push(Mount::bind(inputs.files.hostname.clone(), "/etc/hostname", false));
    }
    let termination_path = c.termination_message_path.clone().unwrap_or_else(|| "/dev/termination-log".into());
    mounts.push(Mount::bind(inputs.termination_log.clone(), &termination_path, false));

    let mut join = Vec::new();
    let mut host = Vec::new();
    for kind in ["net", "ipc", "uts"] {
        let host_ns = match kind {
            "ipc" => pod_spec.host_ipc == Some(true),
            _ => inputs.sandbox.host_network,
        };
        match inputs.sandbox.namespace(kind) {
            Some(path) if !host_ns => join.push((kind, path)),
            _ => host.push(kind),
        }
    }
    if pod_spec.host_pid == Some(true) {
        host.push("pid");
    }

    let resources = c.resources.clone().unwrap_or_default();
    let request = |name: &str| resources.requests.as_ref().and_then(|r| r.get(name)).map(quantity_value).transpose();
    let limit = |name: &str| resources.limits.as_ref().and_then(|r| r.get(name)).map(quantity_value).transpose();
    // A limit without a request means a request of the limit, as the API defaults it.
    let cpu_request = request("cpu")?.or(limit("cpu")?);
    let cpu_shares = Some(cpu_request.map(|cores| ((cores * 1024.0).round() as u64).max(2)).unwrap_or(2));
    let cpu_quota = limit("cpu")?.map(|cores| ((cores * 100_000.0).round() as i64).max(1000));
    let memory_limit = limit("memory")?.map(|b| b as i64);
    let sysctls = pod_sc.sysctls.iter().flatten().map(|s| (s.name.clone(), s.value.clone())).collect();

    Ok(ContainerSpec {
        args,
        env: inputs.env,
        cwd: c.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| inputs.image.working_dir.to_string()),
        uid,
        gid,
        additional_gids,
        terminal: c.tty == Some(true),
        privileged,
        read_only_root: sc.read_only_root_filesystem == Some(true),
        no_new_privileges: no_new_privileges(&sc),
        capabilities,
        mounts,
        join_namespaces: join,
        host_namespaces: host,
        cgroups_path: inputs.cgroup,
        cpu_shares,
        cpu_quota,
        memory_limit,
        sysctls,
        oom_score_adj: None,
    })
}

/// `allowPrivilegeEscalation: false` sets no_new_privs; it is implied true otherwise (upstream
/// also sets it for non-privileged containers without CAP_SYS_ADMIN only when asked).
fn no_new_privileges(sc: &SecurityContext) -> bool {
    sc.allow_privilege_escalation == Some(false)
}

/// The image's USER (`uid`, `uid:gid`, `name`, `name:group`) as numbers, looking names up in
/// the image's /etc/passwd and /etc/group.
pub fn resolve_user(user: &str, rootfs: &Path) -> Result<(u32, u32), String> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let (uid, primary_gid) = match u.parse::<u32>() {
        Ok(n) => (n, lookup(&passwd, |f| f[2] == u).and_then(|f| f[3].parse().ok()).unwrap_or(0)),
        Err(_) => {
            let f = lookup(&passwd, |f| f[0] == u)
                .ok_or_else(|| format!("unable to find user {u}: no matching entries in passwd file"))?;
            (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0))
        }
    };
    let gid = match g {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
                let f = lookup(&group, |f| f[0] == g)
                    .ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?;
                f[2].parse().unwrap_or(0)
            }
        },
    };
    Ok((uid, gid))
}

fn lookup(file: &str, matches: impl Fn(&[&str]) -> bool) -> Option<Vec<&str>> {
    file.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 4 && matches(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn command_and_args_merge_with_the_image() {
        let (ep, cmd) = (vec!["/ep".to_string()], vec!["default".to_string()]);
        let img = ImageDefaults { entrypoint: &ep, cmd: &cmd, working_dir: "", user: "" };
        assert_eq!(argv(&container(serde_json::json!({"name": "c"})), &img), ["/ep", "default"]);
        assert_eq!(argv(&container(serde_json::json!({"name": "c", "args": ["x"]})), &img), ["/ep", "x"]);
        assert_eq!(
            argv(&container(serde_json::json!({"name": "c", "command": ["sh"], "args": ["-c", "true"]})), &img),
            ["sh", "-c", "true"]
        );
        assert_eq!(argv(&container(serde_json::json!({"name": "c", "command": ["sh"]})), &img), ["sh"]);
    }

    #[test]
    fn users_resolve_through_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nnogroup:x:65534:\nstaff:x:50:\n").unwrap();
        assert_eq!(resolve_user("", dir.path()).unwrap(), (0, 0));
        assert_eq!(resolve_user("nobody", dir.path()).unwrap(), (65534, 65534));
        assert_eq!(resolve_user("1000:50", dir.path()).unwrap(), (1000, 50));
        assert_eq!(resolve_user("nobody:staff", dir.path()).unwrap(), (65534, 50));
        assert!(resolve_user("ghost", dir.path()).unwrap_err().contains("unable to find user ghost"));
    }
}
