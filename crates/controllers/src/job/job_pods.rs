//! The pods of a Job: how one is made from the template (tracking finalizer, completion
//! index), which count as failed or terminating, and which go first when some must be
//! removed.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};

use super::failure_policy;
use super::indexes::{self, COMPLETION_INDEX, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT};
use crate::cached_pod::CachedPod;
use crate::owner::controller_ref;
use crate::pods;

/// Keeps a finished pod around until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Longest generateName the API keeps whole (63 less the 5 random characters).
const MAX_GENERATE_NAME: usize = 58;

pub fn has_tracking_finalizer(pod: &CachedPod) -> bool {
    pod.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|x| x == TRACKING_FINALIZER))
}

/// A failed pod is replaced only once it reached phase Failed, not while terminating
/// (podReplacementPolicy Failed, implied by a pod failure policy).
pub fn only_replace_failed(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Failed, or deleted before it succeeded (unless only Failed pods are replaced).
pub fn is_failed(pod: &CachedPod, job: &Job) -> bool {
    match pods::phase(pod) {
        "Failed" => true,
        _ if only_replace_failed(job) => false,
        phase => pod.metadata.deletion_timestamp.is_some() && phase != "Succeeded",
    }
}

/// Being deleted and not finished.
pub fn is_terminating(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !pods::is_finished(pod)
}

/// A new pod for `job`, for completion `index` of an Indexed Job; `replaced` is the last
/// failed pod of that index, whose failure counts it carries on.
pub fn new_pod(job: &Job, index: Option<i32>, replaced: Option<&CachedPod>) -> Pod {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let spec = job.spec.clone().unwrap_or_default();
    let mut template = spec.template;
    let meta = template.metadata.get_or_insert_with(Default::default);
    let finalizers = meta.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_string());
    }
    let mut generate_name = prefix(name, "");
    if let Some(ix) = index {
        let ix_str = ix.to_string();
        meta.annotations.get_or_insert_with(BTreeMap::new).insert(COMPLETION_INDEX.into(), ix_str.clone());
        meta.labels.get_or_insert_with(BTreeMap::new).insert(COMPLETION_INDEX.into(), ix_str.clone());
        if spec.backoff_limit_per_index.is_some() {
            let (failures, ignored) = replaced.map(|p| next_failure_counts(job, p)).unwrap_or((0, 0));
            let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
            annotations.insert(INDEX_FAILURE_COUNT.into(), failures.to_string());
            if ignored > 0 {
                annotations.insert(INDEX_IGNORED_FAILURE_COUNT.into(), ignored.to_string());
            }
        }
        if let Some(pod_spec) = template.spec.as_mut() {
            pod_spec.hostname = Some(format!("{name}-{ix}"));
            for c in pod_spec.init_containers.iter_mut().flatten().chain(pod_spec.containers.iter_mut()) {
                let env = c.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|e| e.name == INDEX_ENV) {
                    env.push(index_env());
                }
            }
        }
        generate_name = prefix(name, &format!("{ix}-"));
    }
    pods::from_template(&template, ns, None, &generate_name, controller_ref(job))
}

/// `<job>-<suffix>`, the job name cut so the whole stays within the generateName limit.
fn prefix(job: &str, suffix: &str) -> String {
    let room = MAX_GENERATE_NAME.saturating_sub(suffix.len() + 1);
    let cut = job.char_indices().nth(room).map_or(job.len(), |(i, _)| i);
    format!("{}-{suffix}", &job[..cut])
}

fn index_env() -> EnvVar {
    EnvVar {
        name: INDEX_ENV.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
                api_version: None,
            }),
            ..Default::default()
        }),
        value: None,
    }
}

/// The failure counters the replacement of the failed pod `replaced` starts with.
fn next_failure_counts(job: &Job, replaced: &CachedPod) -> (i32, i32) {
    let failures = indexes::count_annotation(replaced, INDEX_FAILURE_COUNT);
    let ignored = indexes::count_annotation(replaced, INDEX_IGNORED_FAILURE_COUNT);
    let policy = job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref());
    if failure_policy::evaluate(policy, replaced).counts { (failures + 1, ignored) } else { (failures, ignored + 1) }
}

/// Of `active`, those to delete: for Indexed Jobs pods without a valid index and all but
/// one pod of a repeated index, then the least valuable until `at_least` are chosen.
pub fn for_removal(job: &Job, active: &[Arc<CachedPod>], at_least: usize) -> Vec<Arc<CachedPod>> {
    let mut rm = Vec::new();
    let mut left: Vec<Arc<CachedPod>> = Vec::new();
    if indexes::is_indexed(job) {
        let completions = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(0);
        let mut by_index: BTreeMap<i32, Vec<Arc<CachedPod>>> = BTreeMap::new();
        for p in active {
            match indexes::valid_index(p, completions) {
                Some(ix) => by_index.entry(ix).or_default().push(p.clone()),
                None => rm.push(p.clone()),
            }
        }
        for (_, mut same) in by_index {
            same.sort_by(|a, b| crate::rank::deletion_order(a, b));
            let keep = same.pop().expect("a group has a pod");
            rm.extend(same);
            left.push(keep);
        }
    } else {
        left = active.to_vec();
    }
    if rm.len() < at_least {
        left.sort_by(|a, b| crate::rank::deletion_order(a, b));
        let more = (at_least - rm.len()).min(left.len());
        rm.extend(left.into_iter().take(more));
    }
    rm
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(v: serde_json::Value) -> Job {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn indexed_pods_carry_their_index_and_the_tracking_finalizer() {
        let j = job(json!({
            "metadata": {"name": "calc", "namespace": "ns", "uid": "u"},
            "spec": {"completionMode": "Indexed", "completions": 3, "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"subdomain": "s", "containers": [{"name": "c", "image": "i"}]}}},
        }));
        let p = new_pod(&j, Some(2), None);
        assert_eq!(p.metadata.generate_name.as_deref(), Some("calc-2-"));
        assert_eq!(p.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX], "2");
        assert_eq!(p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX], "2");
        assert_eq!(p.metadata.labels.as_ref().unwrap()["app"], "x");
        assert!(has_tracking_finalizer(&CachedPod::from(&p)));
        let spec = p.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("calc-2"));
        let env = &spec.containers[0].env.as_ref().unwrap()[0];
        assert_eq!(env.name, "JOB_COMPLETION_INDEX");
        assert_eq!(
            env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path,
            "metadata.labels['batch.kubernetes.io/job-completion-index']"
        );
        let plain = new_pod(&job(json!({"metadata": {"name": "once"}, "spec": {"template": {}}})), None, None);
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("once-"));
        assert_eq!(prefix(&"x".repeat(70), "12-").len(), MAX_GENERATE_NAME);
    }

    #[test]
    fn repeated_and_unindexed_pods_are_removed_first() {
        let j = job(json!({"spec": {"completionMode": "Indexed", "completions": 3, "template": {}}}));
        let pod = |name: &str, ix: Option<&str>| {
            let mut p: CachedPod = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
            if let Some(ix) = ix {
                p.metadata.annotations = Some([(COMPLETION_INDEX.to_string(), ix.to_string())].into());
            }
            Arc::new(p)
        };
        let active =
            vec![pod("a", Some("0")), pod("b", Some("0")), pod("c", None), pod("d", Some("7")), pod("e", Some("1"))];
        let rm: Vec<_> = for_removal(&j, &active, 0).iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(rm.len(), 3);
        assert!(rm.contains(&"c".to_string()) && rm.contains(&"d".to_string()));
        assert_eq!(for_removal(&j, &active, 5).len(), 5);
    }
}
