//! `spec.podFailurePolicy`: the first rule matching a failed pod (by a container's nonzero
//! exit code or by a pod condition) decides what its failure means.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};

use crate::cached_pod::{CachedContainerStatus, CachedPod, CachedPodCondition};

/// What a matched rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    FailJob,
    FailIndex,
    Ignore,
    Count,
}

/// The verdict on one failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Present when a FailJob rule matched: the Job's failure message.
    pub fail_job_message: Option<String>,
    /// Whether the failure counts towards backoffLimit (and backoffLimitPerIndex).
    pub counts: bool,
    /// The action of the matched rule, if one matched.
    pub action: Option<Action>,
}

/// Match `pod` (failed) against the policy's rules in order; no policy or no match counts
/// the failure.
pub fn evaluate(policy: Option<&PodFailurePolicy>, pod: &CachedPod) -> Verdict {
    let unmatched = Verdict { fail_job_message: None, counts: true, action: None };
    let Some(policy) = policy else { return unmatched };
    let status = pod.status.as_ref();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(action) = parse_action(&rule.action) else { continue };
        let matched_message = if let Some(req) = &rule.on_exit_codes {
            let Some(c) = status
                .and_then(|s| match_exit_codes(s.container_statuses.as_deref(), req))
                .or_else(|| status.and_then(|s| match_exit_codes(s.init_container_statuses.as_deref(), req)))
            else {
                continue;
            };
            let code = c.state.as_ref().and_then(|s| s.terminated.as_ref()).map_or(0, |t| t.exit_code);
            format!(
                "Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                c.name, rule.action
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
            let Some(c) = match_conditions(conditions, patterns) else { continue };
            format!("Pod {ns}/{name} has condition {} matching {} rule at index {index}", c.type_, rule.action)
        } else {
            continue;
        };
        return match action {
            Action::Ignore => Verdict { fail_job_message: None, counts: false, action: Some(action) },
            Action::FailIndex | Action::Count => Verdict { fail_job_message: None, counts: true, action: Some(action) },
            Action::FailJob => Verdict { fail_job_message: Some(matched_message), counts: true, action: Some(action) },
        };
    }
    unmatched
}

fn parse_action(a: &str) -> Option<Action> {
    Some(match a {
        "FailJob" => Action::FailJob,
        "FailIndex" => Action::FailIndex,
        "Ignore" => Action::Ignore,
        "Count" => Action::Count,
        _ => return None,
    })
}

/// The first terminated container (of the named one, if named) whose nonzero exit code
/// satisfies the operator.
fn match_exit_codes<'a>(
    statuses: Option<&'a [CachedContainerStatus]>,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a CachedContainerStatus> {
    statuses?.iter().find(|c| {
        let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) else { return false };
        let named = req.container_name.as_ref().is_none_or(|n| *n == c.name);
        let listed = req.values.contains(&t.exit_code);
        let op = match req.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        named && t.exit_code != 0 && op
    })
}

fn match_conditions<'a>(
    conditions: &'a [CachedPodCondition],
    patterns: &[k8s_openapi::api::batch::v1::PodFailurePolicyOnPodConditionsPattern],
) -> Option<&'a CachedPodCondition> {
    conditions.iter().find(|c| patterns.iter().any(|p| p.type_ == c.type_ && p.status == c.status))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    fn failed_pod(containers: serde_json::Value, conditions: serde_json::Value) -> CachedPod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "containerStatuses": containers, "conditions": conditions},
        }))
        .unwrap()
    }

    fn exited(name: &str, code: i32) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
               "state": {"terminated": {"exitCode": code}}})
    }

    #[test]
    fn first_matching_exit_code_rule_decides() {
        let p = policy(json!([
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [1, 2]}},
            {"action": "Count", "onExitCodes": {"operator": "In", "values": [1, 5]}},
        ]));
        let ignored = evaluate(Some(&p), &failed_pod(json!([exited("main", 42)]), json!([])));
        assert_eq!((ignored.counts, ignored.action), (false, Some(Action::Ignore)));
        let fatal = evaluate(Some(&p), &failed_pod(json!([exited("side", 0), exited("main", 5)]), json!([])));
        assert_eq!(fatal.action, Some(Action::FailJob));
        assert_eq!(
            fatal.fail_job_message.as_deref(),
            Some("Container main for pod ns/p failed with exit code 5 matching FailJob rule at index 1")
        );
        let counted = evaluate(Some(&p), &failed_pod(json!([exited("side", 5)]), json!([])));
        assert_eq!((counted.counts, counted.action), (true, Some(Action::Count)));
        let unmatched = evaluate(Some(&p), &failed_pod(json!([exited("side", 3)]), json!([])));
        assert_eq!((unmatched.counts, unmatched.action), (true, None));
    }

    #[test]
    fn zero_exit_codes_never_match_even_with_not_in() {
        let p = policy(json!([{"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [1]}}]));
        assert_eq!(evaluate(Some(&p), &failed_pod(json!([exited("main", 0)]), json!([]))).action, None);
    }

    #[test]
    fn pod_condition_rules_match_type_and_status() {
        let p = policy(json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailIndex", "onPodConditions": [{"type": "ConfigIssue", "status": "True"}]},
        ]));
        let disrupted = failed_pod(json!([]), json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(evaluate(Some(&p), &disrupted).action, Some(Action::Ignore));
        let not_quite = failed_pod(json!([]), json!([{"type": "DisruptionTarget", "status": "False"}]));
        assert_eq!(evaluate(Some(&p), &not_quite).action, None);
        let config = failed_pod(json!([]), json!([{"type": "ConfigIssue", "status": "True"}]));
        let v = evaluate(Some(&p), &config);
        assert_eq!((v.counts, v.action), (true, Some(Action::FailIndex)));
        let fail =
            policy(json!([{"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue", "status": "True"}]}]));
        assert_eq!(
            evaluate(Some(&fail), &config).fail_job_message.as_deref(),
            Some("Pod ns/p has condition ConfigIssue matching FailJob rule at index 0")
        );
    }

    #[test]
    fn no_policy_counts_every_failure() {
        let v = evaluate(None, &failed_pod(json!([exited("main", 3)]), json!([])));
        assert_eq!((v.counts, v.action, v.fail_job_message), (true, None, None));
    }
}
