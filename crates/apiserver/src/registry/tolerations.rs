//! DefaultTolerationSeconds admission, as upstream's plugin: a new pod that does not
//! tolerate the `not-ready` and `unreachable` NoExecute taints gets tolerations for them
//! with 300 seconds, so its node going away evicts it after five minutes, not at once.

use serde_json::{Value, json};

/// Upstream's default for both taints (`--default-not-ready-toleration-seconds`, …).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
const TAINTS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

/// Add the default tolerations to a pod being created (`obj` is the served Pod).
pub fn add_default_tolerations(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if tolerations.is_null() {
        *tolerations = json!([]);
    }
    let Some(list) = tolerations.as_array_mut() else { return };
    for key in TAINTS {
        if !list.iter().any(|t| tolerates_no_execute(t, key)) {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
}

/// Whether toleration `t` already covers `key`'s NoExecute taint (upstream checks the key
/// with an empty or NoExecute effect, or a toleration of every key).
fn tolerates_no_execute(t: &Value, key: &str) -> bool {
    let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
    let t_key = t.get("key").and_then(Value::as_str).unwrap_or("");
    let exists = t.get("operator").and_then(Value::as_str) == Some("Exists");
    (effect.is_empty() || effect == "NoExecute") && (t_key == key || (t_key.is_empty() && exists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_both_tolerations_for_five_minutes() {
        let mut pod = json!({"spec": {"containers": []}});
        add_default_tolerations(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["key"], "node.kubernetes.io/not-ready");
        assert_eq!(t[1]["key"], "node.kubernetes.io/unreachable");
        assert_eq!(t[1]["tolerationSeconds"], 300);
        assert_eq!(t[1]["effect"], "NoExecute");
    }

    #[test]
    fn a_pod_that_already_tolerates_keeps_its_own() {
        let mut pod = json!({"spec": {"tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
        ]}});
        add_default_tolerations(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 5);
        assert_eq!(t[1]["key"], "node.kubernetes.io/not-ready");
        let mut all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add_default_tolerations(&mut all);
        assert_eq!(all["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }
}
