//! What the pod worker needs to pull an image as kubelet does: the registry credentials of the
//! pod's `imagePullSecrets` (and of its ServiceAccount's, which upstream's admission would have
//! copied into the pod), read through the API, and the wording of the `Pulled` event.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::Api;

use super::fields;
use crate::images::Keyring;

const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
const DOCKER_CFG_KEY: &str = ".dockercfg";

/// The credentials of the pod's pull secrets, and the names of those that could not be read
/// (missing, or not registry credentials), which kubelet reports and then pulls without.
pub async fn keyring(client: &kube::Client, pod: &Pod) -> (Keyring, Vec<String>) {
    let namespace = fields::namespace(pod);
    let spec = pod.spec.as_ref();
    let mut names: Vec<String> =
        spec.and_then(|s| s.image_pull_secrets.as_ref()).into_iter().flatten().map(|r| r.name.clone()).collect();
    let account = spec.and_then(|s| s.service_account_name.clone()).filter(|n| !n.is_empty());
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    if let Ok(Some(sa)) = accounts.get_opt(account.as_deref().unwrap_or("default")).await {
        names.extend(sa.image_pull_secrets.into_iter().flatten().map(|r| r.name));
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));

    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut keyring = Keyring::new();
    let mut failed = Vec::new();
    for name in names {
        let secret = match secrets.get_opt(&name).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                failed.push(format!("{namespace}/{name}"));
                continue;
            }
            Err(e) => {
                tracing::debug!("pull secret {namespace}/{name}: {e}");
                failed.push(format!("{namespace}/{name}"));
                continue;
            }
        };
        if let Err(e) = add_secret(&mut keyring, &secret) {
            tracing::warn!("pull secret {namespace}/{name}: {e}");
            failed.push(format!("{namespace}/{name}"));
        }
    }
    (keyring, failed)
}

/// Add a secret's `.dockerconfigjson` or `.dockercfg` (whichever it has, as kubelet).
fn add_secret(keyring: &mut Keyring, secret: &Secret) -> Result<(), String> {
    let data = secret.data.as_ref();
    if let Some(v) = data.and_then(|d| d.get(DOCKER_CONFIG_JSON_KEY)) {
        return keyring.add_docker_config_json(&v.0);
    }
    if let Some(v) = data.and_then(|d| d.get(DOCKER_CFG_KEY)) {
        return keyring.add_docker_cfg(&v.0);
    }
    Err(format!("has neither {DOCKER_CONFIG_JSON_KEY} nor {DOCKER_CFG_KEY}"))
}

/// kubelet's `Pulled` message after a pull.
pub fn pulled_message(image: &str, pulling: Duration, total: Duration, size: u64) -> String {
    format!(
        "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {size} bytes.",
        go_duration(pulling),
        go_duration(total)
    )
}

/// A duration as Go prints a `time.Duration` truncated to milliseconds (`1.234s`, `2m3.5s`,
/// `12ms`, `0s`), which is how kubelet's events show them.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        out.push_str(format!(".{frac:03}").trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_micros(12_345)), "12ms");
        assert_eq!(go_duration(Duration::from_millis(1_200)), "1.2s");
        assert_eq!(go_duration(Duration::from_millis(2_000)), "2s");
        assert_eq!(go_duration(Duration::from_millis(123_456)), "2m3.456s");
        assert_eq!(go_duration(Duration::from_millis(3_600_000)), "1h0m0s");
    }

    #[test]
    fn pulled_message_has_kubelets_shape() {
        assert_eq!(
            pulled_message("busybox", Duration::from_millis(1_200), Duration::from_millis(1_500), 42),
            "Successfully pulled image \"busybox\" in 1.2s (1.5s including waiting). Image size: 42 bytes."
        );
    }

    #[test]
    fn secrets_of_either_docker_key_are_read() {
        let mut secret = Secret::default();
        let mut k = Keyring::new();
        assert!(add_secret(&mut k, &secret).is_err());
        secret.data = Some(
            [(DOCKER_CFG_KEY.to_string(), ByteString(br#"{"r.io":{"username":"u","password":"p"}}"#.to_vec()))].into(),
        );
        add_secret(&mut k, &secret).unwrap();
        assert_eq!(k.lookup("r.io/x").len(), 1);
    }
}
