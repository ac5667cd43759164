//! Security contexts (pod and container), sysctls, seccomp/AppArmor profiles and DNS config,
//! validated as upstream's `ValidateSecurityContext`, `validatePodSpecSecurityContext` and
//! `validatePodDNSConfig`.

use k8s_openapi::api::core::v1::{
    AppArmorProfile, PodDNSConfig, PodSecurityContext, SeccompProfile, SecurityContext, WindowsSecurityContextOptions,
};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{id_range, ip, json, s};
use crate::kinds::pod_spec::volumes::local_descending_path;
use crate::names;

/// A container's `securityContext`.
pub fn validate_security_context(
    errs: &mut FieldErrors,
    sc: Option<&SecurityContext>,
    host_users: bool,
    path: &FieldPath,
) {
    let Some(sc) = sc else { return };
    // Privileged containers are allowed: skiff runs as a cluster started with
    // `--allow-privileged=true`, as kubeadm and kind clusters are.
    if let Some(u) = sc.run_as_user {
        id_range(errs, u, &path.child("runAsUser"));
    }
    if let Some(g) = sc.run_as_group {
        id_range(errs, g, &path.child("runAsGroup"));
    }
    if let Some(pm) = &sc.proc_mount {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(FieldError::not_supported(&path.child("procMount"), pm.as_str(), &["Default", "Unmasked"]));
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                &path.child("procMount"),
                pm.as_str(),
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    seccomp(errs, sc.seccomp_profile.as_ref(), &path.child("seccompProfile"));
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if sc.capabilities.as_ref().and_then(|c| c.add.as_ref()).is_some_and(|a| a.iter().any(|c| c == "CAP_SYS_ADMIN"))
        {
            errs.push(FieldError::invalid(
                path,
                json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    windows_options(errs, sc.windows_options.as_ref(), &path.child("windowsOptions"));
    app_armor(errs, sc.app_armor_profile.as_ref(), &path.child("appArmorProfile"));
}

/// The pod-level `securityContext` (`spec_path` is the pod spec, for fields reported there).
pub fn validate_pod_security_context(
    errs: &mut FieldErrors,
    sc: Option<&PodSecurityContext>,
    host_network: bool,
    host_ipc: bool,
    host_pid: bool,
    share_process_namespace: Option<bool>,
    path: &FieldPath,
) {
    let Some(sc) = sc else { return };
    if let Some(g) = sc.fs_group {
        id_range(errs, g, &path.child("fsGroup"));
    }
    if let Some(u) = sc.run_as_user {
        id_range(errs, u, &path.child("runAsUser"));
    }
    if let Some(g) = sc.run_as_group {
        id_range(errs, g, &path.child("runAsGroup"));
    }
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        id_range(errs, *g, &path.child("supplementalGroups").index(i));
    }
    if host_pid && share_process_namespace == Some(true) {
        errs.push(FieldError::invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    sysctls(errs, sc, host_network, host_ipc, &path.child("sysctls"));
    if let Some(p) = &sc.fs_group_change_policy
        && p != "Always"
        && p != "OnRootMismatch"
    {
        errs.push(FieldError::not_supported(
            &path.child("fsGroupChangePolicy"),
            p.as_str(),
            &["Always", "OnRootMismatch"],
        ));
    }
    seccomp(errs, sc.seccomp_profile.as_ref(), &path.child("seccompProfile"));
    windows_options(errs, sc.windows_options.as_ref(), &path.child("windowsOptions"));
    app_armor(errs, sc.app_armor_profile.as_ref(), &path.child("appArmorProfile"));
    if let Some(p) = &sc.supplemental_groups_policy
        && p != "Merge"
        && p != "Strict"
    {
        errs.push(FieldError::not_supported(&path.child("supplementalGroupsPolicy"), p.as_str(), &["Merge", "Strict"]));
    }
    if let Some(p) = &sc.se_linux_change_policy
        && p != "MountOption"
        && p != "Recursive"
    {
        errs.push(FieldError::not_supported(
            &path.child("seLinuxChangePolicy"),
            p.as_str(),
            &["MountOption", "Recursive"],
        ));
    }
}

fn sysctls(errs: &mut FieldErrors, sc: &PodSecurityContext, host_network: bool, host_ipc: bool, path: &FieldPath) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, sysctl) in sc.sysctls.iter().flatten().enumerate() {
        let np = path.index(i).child("name");
        let name = sysctl.name.as_str();
        if name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else if !valid_sysctl_name(name) {
            errs.push(FieldError::invalid(
                &np,
                name,
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if seen.contains(name) {
            errs.push(FieldError::duplicate(&np, name));
        }
        let normalized = name.replace('/', ".");
        let net = normalized.starts_with("net.");
        let ipc = normalized.starts_with("kernel.shm")
            || normalized.starts_with("kernel.msg")
            || normalized == "kernel.sem"
            || normalized.starts_with("fs.mqueue.");
        if host_network && net {
            errs.push(FieldError::invalid(&np, name, "may not be specified when 'hostNetwork' is true"));
        } else if host_ipc && ipc {
            errs.push(FieldError::invalid(&np, name, "may not be specified when 'hostIPC' is true"));
        }
        seen.insert(name);
    }
}

fn valid_sysctl_name(name: &str) -> bool {
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && seg.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && seg.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    name.len() <= 253 && name.split(['.', '/']).all(segment_ok)
}

fn seccomp(errs: &mut FieldErrors, sp: Option<&SeccompProfile>, path: &FieldPath) {
    let Some(sp) = sp else { return };
    match sp.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(&path.child("type"), "type is required when seccompProfile is set")),
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    if sp.type_ == "Localhost" {
        match &sp.localhost_profile {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => local_descending_path(errs, p, &path.child("localhostProfile")),
        }
    } else if sp.localhost_profile.is_some() {
        errs.push(FieldError::invalid(
            &path.child("localhostProfile"),
            json(sp),
            "can only be set when seccomp type is Localhost",
        ));
    }
}

fn app_armor(errs: &mut FieldErrors, p: Option<&AppArmorProfile>, path: &FieldPath) {
    let Some(p) = p else { return };
    match p.type_.as_str() {
        "Localhost" => match &p.localhost_profile {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(lp) => {
                if lp.trim() != lp {
                    errs.push(FieldError::invalid(
                        &path.child("localhostProfile"),
                        lp.as_str(),
                        "must not be padded with whitespace",
                    ));
                } else if lp.is_empty() {
                    errs.push(FieldError::required(
                        &path.child("localhostProfile"),
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if lp.len() > 4095 {
                    errs.push(FieldError::too_long(&path.child("localhostProfile"), 4095));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(lp) = &p.localhost_profile {
                errs.push(FieldError::invalid(
                    &path.child("localhostProfile"),
                    lp.as_str(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(&path.child("type"), "type is required when appArmorProfile is set")),
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
}

/// The simple Windows option checks (the user-name grammar is not checked).
fn windows_options(errs: &mut FieldErrors, w: Option<&WindowsSecurityContextOptions>, path: &FieldPath) {
    let Some(w) = w else { return };
    if let Some(n) = &w.gmsa_credential_spec_name {
        for m in names::is_dns1123_subdomain(n) {
            errs.push(FieldError::invalid(&path.child("gmsaCredentialSpecName"), n.as_str(), m));
        }
    }
    if let Some(spec) = &w.gmsa_credential_spec {
        if spec.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("gmsaCredentialSpec"),
                "",
                "gmsaCredentialSpec cannot be an empty string",
            ));
        } else if spec.len() > 64 * 1024 {
            errs.push(FieldError::invalid(
                &path.child("gmsaCredentialSpec"),
                spec.as_str(),
                "gmsaCredentialSpec size must be under 64 KiB",
            ));
        }
    }
    if let Some(u) = &w.run_as_user_name {
        if u.is_empty() {
            errs.push(FieldError::invalid(&path.child("runAsUserName"), "", "runAsUserName cannot be an empty string"));
        } else if u.chars().any(|c| c.is_control()) {
            errs.push(FieldError::invalid(
                &path.child("runAsUserName"),
                u.as_str(),
                "runAsUserName cannot contain control characters",
            ));
        } else if u.matches('\\').count() > 1 {
            errs.push(FieldError::invalid(
                &path.child("runAsUserName"),
                u.as_str(),
                "runAsUserName cannot contain more than one backslash",
            ));
        }
    }
}

/// `dnsConfig` against `dnsPolicy`.
pub fn validate_dns_config(errs: &mut FieldErrors, cfg: Option<&PodDNSConfig>, policy: &str, path: &FieldPath) {
    if policy == "None" {
        let Some(cfg) = cfg else {
            errs.push(FieldError::required(path, "must provide `dnsConfig` when `dnsPolicy` is None"));
            return;
        };
        if cfg.nameservers.as_ref().is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(
                &path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let Some(cfg) = cfg else { return };
    let nameservers = cfg.nameservers.as_deref().unwrap_or_default();
    if nameservers.len() > 3 {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            json(&nameservers),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        ip(errs, ns, &path.child("nameservers").index(i));
    }
    let searches = cfg.searches.as_deref().unwrap_or_default();
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            json(&searches),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            json(&searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        // Relaxed search validation (1.33 default): underscores allowed, "." alone allowed.
        if search == "." {
            continue;
        }
        let trimmed = search.strip_suffix('.').unwrap_or(search);
        for m in names::is_dns1123_subdomain(&trimmed.replace('_', "a")) {
            let m = m.replace(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-', '_' or '.'",
            );
            errs.push(FieldError::invalid(&path.child("searches").index(i), trimmed, m));
        }
    }
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        if s(&o.name).is_empty() {
            errs.push(FieldError::required(&path.child("options").index(i), "must not be empty"));
        }
    }
}
