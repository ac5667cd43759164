//! Cgroup names and cleanup. Containers live in `/skiff/pod<uid>/<container-id>` of every
//! hierarchy (runc makes and fills them); the pod's own level is removed here once its
//! containers are gone, so nothing is left behind.

/// The cgroup (below each hierarchy's root) of all containers of a pod.
pub fn pod_cgroup(pod_uid: &str) -> String {
    format!("/skiff/pod{pod_uid}")
}

/// Every mounted cgroup hierarchy (v1 controllers, the v2 unified tree), from mountinfo.
fn hierarchies() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| pre.split_whitespace().nth(4).map(str::to_string))?
        })
        .collect()
}

/// Remove a pod's cgroup from every hierarchy (empty by now; a busy one stays and is logged).
pub fn remove_pod(pod_uid: &str) {
    let rel = pod_cgroup(pod_uid);
    for root in hierarchies() {
        let dir = format!("{root}{rel}");
        match std::fs::remove_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!("removing cgroup {dir}: {e}"),
            _ => {}
        }
    }
}
