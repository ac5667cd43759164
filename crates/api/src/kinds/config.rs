//! ConfigMaps and Secrets: keys are config keys (`[-._a-zA-Z0-9]+`), at most 1 MiB of data,
//! `immutable: true` freezes the data, a secret's type is fixed; secrets default to `Opaque` and
//! their `stringData` is folded into `data`, as upstream's conversion does.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{config_key, s};
use crate::strategy::KindRules;

const MAX_SIZE: usize = 1024 * 1024;
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

fn keys(errs: &mut FieldErrors, keys: impl Iterator<Item = String>, path: &FieldPath) {
    for k in keys {
        for m in config_key(&k) {
            errs.push(FieldError::invalid(&path.key(&k), k.as_str(), m));
        }
    }
}

impl KindRules for ConfigMap {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let data = self.data.clone().unwrap_or_default();
        let binary = self.binary_data.clone().unwrap_or_default();
        let dp = FieldPath::new("data");
        for k in data.keys() {
            for m in config_key(k) {
                errs.push(FieldError::invalid(&dp.key(k), k.as_str(), m));
            }
            if binary.contains_key(k) {
                errs.push(FieldError::invalid(&dp.key(k), k.as_str(), "duplicate of key present in binaryData"));
            }
        }
        keys(&mut errs, binary.keys().cloned(), &FieldPath::new("binaryData"));
        let total: usize =
            data.values().map(String::len).sum::<usize>() + binary.values().map(|b| b.0.len()).sum::<usize>();
        if total > MAX_SIZE {
            errs.push(FieldError::too_long(&FieldPath::root(), MAX_SIZE));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.push(FieldError::forbidden(&FieldPath::new("immutable"), IMMUTABLE_WHEN_SET));
            }
            if self.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
                errs.push(FieldError::forbidden(&FieldPath::new("data"), IMMUTABLE_WHEN_SET));
            }
            if self.binary_data.clone().unwrap_or_default() != old.binary_data.clone().unwrap_or_default() {
                errs.push(FieldError::forbidden(&FieldPath::new("binaryData"), IMMUTABLE_WHEN_SET));
            }
        }
        errs.extend(self.validate());
        errs
    }
}

impl KindRules for Secret {
    fn default_fields(&mut self) {
        if s(&self.type_).is_empty() {
            self.type_ = Some("Opaque".to_string());
        }
        // `stringData` is write-only: it overrides `data` and is never stored.
        if let Some(sd) = self.string_data.take() {
            let data = self.data.get_or_insert_with(BTreeMap::new);
            for (k, v) in sd {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let data = self.data.clone().unwrap_or_default();
        let dp = FieldPath::new("data");
        keys(&mut errs, data.keys().cloned(), &dp);
        if data.values().map(|v| v.0.len()).sum::<usize>() > MAX_SIZE {
            errs.push(FieldError::too_long(&dp, MAX_SIZE));
        }
        let has = |k: &str| data.contains_key(k);
        match s(&self.type_) {
            "kubernetes.io/service-account-token" => {
                let name = self.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/service-account.name"));
                if name.is_none_or(String::is_empty) {
                    errs.push(FieldError::required(
                        &FieldPath::new("metadata").child("annotations").key("kubernetes.io/service-account.name"),
                        "",
                    ));
                }
            }
            "kubernetes.io/dockercfg" => json_key(&mut errs, &data, ".dockercfg", &dp),
            "kubernetes.io/dockerconfigjson" => json_key(&mut errs, &data, ".dockerconfigjson", &dp),
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                errs.push(FieldError::required(&dp.key("username"), ""));
                errs.push(FieldError::required(&dp.key("password"), ""));
            }
            "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
                errs.push(FieldError::required(&dp.key("ssh-privatekey"), ""));
            }
            "kubernetes.io/tls" => {
                if !has("tls.crt") {
                    errs.push(FieldError::required(&dp.key("tls.crt"), ""));
                }
                if !has("tls.key") {
                    errs.push(FieldError::required(&dp.key("tls.key"), ""));
                }
            }
            _ => {}
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.type_ != old.type_ {
            errs.push(FieldError::invalid(
                &FieldPath::new("type"),
                s(&self.type_),
                crate::kinds::common::IMMUTABLE_MSG,
            ));
        }
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.push(FieldError::forbidden(&FieldPath::new("immutable"), IMMUTABLE_WHEN_SET));
            }
            if self.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
                errs.push(FieldError::forbidden(&FieldPath::new("data"), IMMUTABLE_WHEN_SET));
            }
        }
        errs.extend(self.validate());
        errs
    }
}

/// A docker config key must exist and hold JSON.
fn json_key(errs: &mut FieldErrors, data: &BTreeMap<String, ByteString>, key: &str, path: &FieldPath) {
    match data.get(key) {
        None => errs.push(FieldError::required(&path.key(key), "")),
        Some(v) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&v.0) {
                errs.push(FieldError::invalid(&path.key(key), "<secret contents redacted>", e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(resource: &str, op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("", "v1", resource).unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    #[test]
    fn config_map_keys_and_immutability() {
        let err = admit(
            "configmaps",
            Operation::Create,
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"bad key": "v"}}),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')"#
        );
        let old = admit(
            "configmaps",
            Operation::Create,
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": true}),
            None,
        )
        .unwrap();
        let mut new = old.clone();
        new["data"]["a"] = json!("2");
        assert_eq!(
            admit("configmaps", Operation::Update, new, Some(&old)).unwrap_err(),
            "data: Forbidden: field is immutable when `immutable` is set"
        );
        let big = "x".repeat(1024 * 1024 + 1);
        let err = admit(
            "configmaps",
            Operation::Create,
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": big}}),
            None,
        )
        .unwrap_err();
        assert!(err.contains("Too long: may not be more than 1048576 bytes"), "{err}");
    }

    #[test]
    fn secrets_default_and_fold_string_data() {
        let s = admit(
            "secrets",
            Operation::Create,
            json!({"metadata": {"name": "s", "namespace": "d"}, "stringData": {"user": "admin"}}),
            None,
        )
        .unwrap();
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"]["user"], "YWRtaW4=");
        assert!(s.get("stringData").is_none());
        let err = admit(
            "secrets",
            Operation::Create,
            json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {}}),
            None,
        )
        .unwrap_err();
        assert_eq!(err, "[data[tls.crt]: Required value, data[tls.key]: Required value]");
        let mut changed = s.clone();
        changed["type"] = json!("kubernetes.io/basic-auth");
        changed["data"]["username"] = json!("YQ==");
        assert_eq!(
            admit("secrets", Operation::Update, changed, Some(&s)).unwrap_err(),
            r#"type: Invalid value: "kubernetes.io/basic-auth": field is immutable"#
        );
    }
}
