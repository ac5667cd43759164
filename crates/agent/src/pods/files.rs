//! The per-pod files kubelet writes and mounts into every container: /etc/hosts,
//! /etc/resolv.conf and /etc/hostname.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use super::fields;

pub struct PodFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname: PathBuf,
}

/// The pod's host name: `spec.hostname`, else its name (cut to 63 characters, as upstream).
pub fn hostname(pod: &Pod) -> String {
    let spec = pod.spec.as_ref();
    let h = spec.and_then(|s| s.hostname.clone()).unwrap_or_else(|| fields::name(pod).to_string());
    h.chars().take(63).collect::<String>().trim_end_matches(['-', '.']).to_string()
}

pub fn write(pod: &Pod, dir: &Path, pod_ip: Option<&str>) -> Result<PodFiles, String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let name = hostname(pod);
    let files =
        PodFiles { hosts: dir.join("etc-hosts"), resolv_conf: dir.join("resolv.conf"), hostname: dir.join("hostname") };
    let w = |p: &Path, s: String| std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()));

    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        let mut h = String::from(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
        );
        if let Some(ip) = pod_ip.filter(|ip| !ip.is_empty()) {
            match &spec.subdomain {
                Some(sub) if !sub.is_empty() => {
                    let ns = fields::namespace(pod);
                    h.push_str(&format!("{ip}\t{name}.{sub}.{ns}.svc.cluster.local\t{name}\n"));
                }
                _ => h.push_str(&format!("{ip}\t{name}\n")),
            }
        }
        for alias in spec.host_aliases.iter().flatten() {
            h.push_str(&format!(
                "\n# Entries added by HostAliases.\n{}\t{}\n",
                alias.ip,
                alias.hostnames.clone().unwrap_or_default().join("\t")
            ));
        }
        h
    };
    w(&files.hosts, hosts)?;
    w(&files.resolv_conf, resolv_conf(pod, &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()))?;
    let node_hostname = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    w(&files.hostname, format!("{}\n", if host_network { node_hostname } else { name }))?;
    Ok(files)
}

/// The pod's resolv.conf: the host's (policies Default, and ClusterFirst until the cluster has
/// its DNS), or only `dnsConfig` for `None`, with `dnsConfig` nameservers, searches and options
/// merged in.
pub fn resolv_conf(pod: &Pod, host: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let (mut servers, mut search, mut options) = (Vec::new(), Vec::new(), Vec::new());
    if spec.dns_policy.as_deref() != Some("None") {
        for line in host.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => servers.extend(words.map(str::to_string)),
                Some("search") => search = words.map(str::to_string).collect(),
                Some("options") => options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
    }
    if let Some(c) = &spec.dns_config {
        servers.extend(c.nameservers.iter().flatten().cloned());
        search.extend(c.searches.iter().flatten().cloned());
        for o in c.options.iter().flatten() {
            let text = match &o.value {
                Some(v) => format!("{}:{v}", o.name.clone().unwrap_or_default()),
                None => o.name.clone().unwrap_or_default(),
            };
            options.retain(|x: &String| x.split(':').next() != text.split(':').next());
            options.push(text);
        }
    }
    servers.truncate(3);
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_merges_dns_config() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "dnsConfig": {"nameservers": ["1.2.3.4"], "options": [{"name": "ndots", "value": "2"}]}}
        }))
        .unwrap();
        let out = resolv_conf(&pod, "nameserver 9.9.9.9\nsearch a b\noptions ndots:5 edns0\n");
        assert_eq!(out, "search a b\nnameserver 9.9.9.9\nnameserver 1.2.3.4\noptions edns0 ndots:2\n");
    }
}
