//! The image config blob (OCI image-spec `config.json`, the same in Docker's format): what the
//! container runs by default, and the layers' uncompressed digests (`rootfs.diff_ids`) that the
//! unpacked layers are checked against.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The defaults a container of this image runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub working_dir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty for root.
    pub user: String,
    pub stop_signal: Option<String>,
    /// `80/tcp`, `53/udp`, …, sorted.
    pub exposed_ports: Vec<String>,
}

/// The parts of the config blob the store reads.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    pub config: ImageConfig,
    /// `sha256:<hex>` of each layer's uncompressed tar, lowest first.
    pub diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    config: Option<RawConfig>,
    rootfs: RawRootfs,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    diff_ids: Vec<String>,
}

// Docker writes these capitalised; null and absent mean empty.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    stop_signal: Option<String>,
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

impl ConfigFile {
    /// Parse a config blob; the error says what is wrong with it.
    pub(crate) fn parse(bytes: &[u8]) -> Result<ConfigFile, String> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| format!("image config is not valid: {e}"))?;
        if raw.rootfs.kind != "layers" {
            return Err(format!("image config has rootfs type {:?}, expected \"layers\"", raw.rootfs.kind));
        }
        if let Some(bad) = raw.rootfs.diff_ids.iter().find(|d| super::digest::hex(d).is_none()) {
            return Err(format!("image config has diff_id {bad:?}, expected sha256:<hex>"));
        }
        let c = raw.config.unwrap_or_default();
        let config = ImageConfig {
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            stop_signal: c.stop_signal.filter(|s| !s.is_empty()),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
        };
        Ok(ConfigFile { config, diff_ids: raw.rootfs.diff_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_fields_are_read_and_nulls_are_empty() {
        let d = format!("sha256:{}", "a".repeat(64));
        let json = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":null,"Cmd":["sh"],
            "Env":["PATH=/bin"],"WorkingDir":"/w","User":"65534","StopSignal":"SIGQUIT",
            "ExposedPorts":{{"80/tcp":{{}},"53/udp":{{}}}}}},"rootfs":{{"type":"layers","diff_ids":["{d}"]}}}}"#
        );
        let c = ConfigFile::parse(json.as_bytes()).unwrap();
        assert_eq!(c.diff_ids, vec![d]);
        assert_eq!(
            c.config,
            ImageConfig {
                entrypoint: vec![],
                cmd: vec!["sh".into()],
                env: vec!["PATH=/bin".into()],
                working_dir: "/w".into(),
                user: "65534".into(),
                stop_signal: Some("SIGQUIT".into()),
                exposed_ports: vec!["53/udp".into(), "80/tcp".into()],
            }
        );
    }

    #[test]
    fn config_without_container_config_is_empty() {
        let c = ConfigFile::parse(br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#).unwrap();
        assert_eq!(c.config, ImageConfig::default());
    }

    #[test]
    fn malformed_configs_are_refused() {
        assert!(ConfigFile::parse(b"not json").unwrap_err().contains("not valid"));
        assert!(ConfigFile::parse(br#"{"rootfs":{"type":"x"}}"#).unwrap_err().contains("rootfs type"));
        assert!(
            ConfigFile::parse(br#"{"rootfs":{"type":"layers","diff_ids":["md5:x"]}}"#).unwrap_err().contains("diff_id")
        );
    }
}
