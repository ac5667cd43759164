//! Jobs: defaults (completions/parallelism 1, backoffLimit 6, NonIndexed, not suspended,
//! podReplacementPolicy, manualSelector false), the generated selector and pod labels tied to
//! the Job's uid and name (upstream's job strategy `generateSelector`), and `ValidateJob(Update)`.
//!
//! The Job's uid must be set before admission (as upstream sets it before `PrepareForCreate`):
//! the generated selector selects on it.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus, PodFailurePolicy};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    IMMUTABLE_MSG, default_to, go_label_selector, go_string_map, invalid_repr, json, label_selector, nonnegative,
    qualified_name, selector_immutable, selector_must_match_template,
};
use crate::kinds::pod_spec::{default_template, validate_pod_template_spec};
use crate::kinds::workload::drop_disabled_template;
use crate::names;
use crate::strategy::KindRules;

pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const LEGACY_JOB_NAME: &str = "job-name";

const MAX_PARALLELISM_INDEXED: i32 = 100_000;
const MAX_FAILED_INDEXES: i32 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
const PARALLELISM_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_FAILED_INDEXES_HIGH_COMPLETIONS: i32 = 10_000;

impl KindRules for Job {
    fn prepare_for_create(&mut self) {
        // Upstream defaults on decode, before this; the selector decision needs manualSelector.
        self.status = Some(JobStatus::default());
        let (name, uid) =
            (self.metadata.name.clone().unwrap_or_default(), self.metadata.uid.clone().unwrap_or_default());
        let spec = self.spec.get_or_insert_with(Default::default);
        default_job_spec(spec);
        drop_disabled_template(&mut spec.template, None);
        // Upstream copies the template's labels to the Job while decoding, before the
        // generated ones exist; only a Job whose template had none ends up with those.
        let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone());
        if self.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
            && let Some(l) = template_labels
        {
            self.metadata.labels = Some(l);
        }
        let spec = self.spec.get_or_insert_with(Default::default);
        if spec.manual_selector != Some(true) {
            generate_selector(spec, &name, &uid);
        }
        // A Job whose template had no labels shows the generated ones (upstream: on read).
        if self.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            self.metadata.labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone());
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, old.spec.as_ref().map(|s| &s.template));
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_job_spec(spec);
        let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone());
        if let Some(labels) = labels
            && self.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
        {
            self.metadata.labels = Some(labels);
        }
    }

    fn validate(&self) -> FieldErrors {
        validate_job(self, true)
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let old_labels = old
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let prefixed = old_labels.contains_key(JOB_NAME) && old_labels.contains_key(CONTROLLER_UID);
        let mut errs = validate_job(self, prefixed);
        let (new, old_spec) = (self.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
        let sp = FieldPath::new("spec");
        // Completions may change only for Indexed jobs, and then together with parallelism.
        let indexed = new.completion_mode.as_deref() == Some("Indexed");
        if !indexed {
            if new.completions != old_spec.completions {
                errs.push(FieldError::invalid(&sp.child("completions"), opt_json(new.completions), IMMUTABLE_MSG));
            }
        } else if new.completions != old_spec.completions
            && let Some(c) = new.completions
            && Some(c) != new.parallelism
        {
            errs.push(FieldError::invalid(
                &sp.child("completions"),
                c,
                "can only be modified in tandem with spec.parallelism",
            ));
        }
        selector_immutable(&mut errs, new.selector.as_ref(), old_spec.selector.as_ref(), &sp.child("selector"));
        validate_template_update(&mut errs, &new, &old_spec, old);
        for (changed, field, value) in [
            (new.completion_mode != old_spec.completion_mode, "completionMode", json(&new.completion_mode)),
            (new.pod_failure_policy != old_spec.pod_failure_policy, "podFailurePolicy", json(&new.pod_failure_policy)),
            (
                new.backoff_limit_per_index != old_spec.backoff_limit_per_index,
                "backoffLimitPerIndex",
                json(&new.backoff_limit_per_index),
            ),
            (new.managed_by != old_spec.managed_by, "managedBy", json(&new.managed_by)),
            (new.success_policy != old_spec.success_policy, "successPolicy", json(&new.success_policy)),
        ] {
            if changed {
                errs.push(FieldError::invalid(&sp.child(field), value, IMMUTABLE_MSG));
            }
        }
        errs
    }

    fn validate_status_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let st = self.status.clone().unwrap_or_default();
        let p = FieldPath::new("status");
        for (v, f) in [
            (st.active, "active"),
            (st.succeeded, "succeeded"),
            (st.failed, "failed"),
            (st.ready, "ready"),
            (st.terminating, "terminating"),
        ] {
            if let Some(v) = v {
                nonnegative(&mut errs, i64::from(v), &p.child(f));
            }
        }
        let old_st = old.status.clone().unwrap_or_default();
        if st.failed.unwrap_or(0) < old_st.failed.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &p.child("failed"),
                st.failed.unwrap_or(0),
                "cannot decrease the failed counter",
            ));
        }
        if st.succeeded.unwrap_or(0) < old_st.succeeded.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &p.child("succeeded"),
                st.succeeded.unwrap_or(0),
                "cannot decrease the succeeded counter",
            ));
        }
        if st.ready.is_some_and(|r| r > st.active.unwrap_or(0)) {
            errs.push(FieldError::invalid(
                &p.child("ready"),
                st.ready.unwrap_or(0),
                "cannot set more ready pods than active",
            ));
        }
        errs
    }
}

fn opt_json(v: Option<i32>) -> serde_json::Value {
    v.map_or(serde_json::Value::Null, Into::into)
}

/// `SetDefaults_Job` (without the label copy) and the template's pod defaults.
pub fn default_job_spec(spec: &mut JobSpec) {
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    default_to(&mut spec.parallelism, 1);
    if spec.backoff_limit.is_none() {
        // With per-index limits the global one is effectively off.
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() { i32::MAX } else { 6 });
    }
    default_to(&mut spec.completion_mode, "NonIndexed".to_string());
    default_to(&mut spec.suspend, false);
    if let Some(pfp) = &mut spec.pod_failure_policy {
        for pattern in pfp.rules.iter_mut().flat_map(|r| r.on_pod_conditions.iter_mut().flatten()) {
            if pattern.status.is_empty() {
                pattern.status = "True".to_string();
            }
        }
    }
    if spec.pod_replacement_policy.is_none() {
        let policy = if spec.pod_failure_policy.is_some() { "Failed" } else { "TerminatingOrFailed" };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    default_to(&mut spec.manual_selector, false);
    default_template(&mut spec.template);
}

/// Label the pod template with the Job's name and uid and select on the uid, keeping labels
/// the user set (a conflict then fails validation).
fn generate_selector(spec: &mut JobSpec, name: &str, uid: &str) {
    let labels = spec.template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new);
    for key in [LEGACY_JOB_NAME, JOB_NAME] {
        labels.entry(key.to_string()).or_insert_with(|| name.to_string());
    }
    for key in [LEGACY_CONTROLLER_UID, CONTROLLER_UID] {
        labels.entry(key.to_string()).or_insert_with(|| uid.to_string());
    }
    let sel = spec.selector.get_or_insert_with(LabelSelector::default);
    sel.match_labels
        .get_or_insert_with(BTreeMap::new)
        .entry(CONTROLLER_UID.to_string())
        .or_insert_with(|| uid.to_string());
}

fn validate_job(job: &Job, prefixed_labels: bool) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let spec = job.spec.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    if spec.manual_selector != Some(true) && spec.selector.is_some() {
        if uid.is_empty() {
            errs.push(FieldError::required(&FieldPath::new("metadata").child("uid"), ""));
        }
        let tp = FieldPath::new("spec").child("template").child("metadata");
        let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
        let mut expected: Vec<(&str, &str)> = vec![(LEGACY_CONTROLLER_UID, &uid), (LEGACY_JOB_NAME, &name)];
        if prefixed_labels {
            expected.extend([(CONTROLLER_UID, uid.as_str()), (JOB_NAME, name.as_str())]);
        }
        for (key, value) in &expected {
            has_label(&mut errs, labels, key, value, &tp);
        }
        let expected_labels: BTreeMap<String, String> =
            expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(sel) = &spec.selector
            && crate::kinds::common::selector_matches(sel, Some(&expected_labels)) == Some(false)
        {
            errs.push(invalid_repr(
                &FieldPath::new("spec").child("selector"),
                go_label_selector(sel),
                "`selector` not auto-generated",
            ));
        }
    }
    validate_job_spec(&mut errs, &spec, &FieldPath::new("spec"));
    if spec.completion_mode.as_deref() == Some("Indexed")
        && let Some(c) = spec.completions.filter(|c| *c > 0)
    {
        // Pod hostnames get a `-<index>` suffix and must stay DNS labels.
        let host = format!("{name}-{}", c - 1);
        if !names::is_dns1123_label(&host).is_empty() {
            errs.push(FieldError::invalid(
                &FieldPath::new("metadata").child("name"),
                name.as_str(),
                format!("will not able to create pod with invalid DNS label: {host}"),
            ));
        }
    }
    errs
}

/// Upstream's `ValidateHasLabel`.
fn has_label(
    errs: &mut FieldErrors,
    labels: Option<&BTreeMap<String, String>>,
    key: &str,
    expected: &str,
    path: &FieldPath,
) {
    match labels.and_then(|l| l.get(key)) {
        None => errs.push(FieldError::required(&path.child("labels").key(key), format!("must be '{expected}'"))),
        Some(v) if v != expected => errs.push(invalid_repr(
            &path.child("labels").key(key),
            go_string_map(labels),
            &format!("must be '{expected}'"),
        )),
        Some(_) => {}
    }
}

/// Upstream's `ValidateJobSpec`: the spec rules, a required selector matching the template.
fn validate_job_spec(errs: &mut FieldErrors, spec: &JobSpec, path: &FieldPath) {
    validate_job_spec_body(errs, spec, path);
    match &spec.selector {
        None => errs.push(FieldError::required(&path.child("selector"), "")),
        Some(sel) => label_selector(errs, Some(sel), &path.child("selector")),
    }
    let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    selector_must_match_template(
        errs,
        spec.selector.as_ref(),
        labels,
        &path.child("template").child("metadata").child("labels"),
    );
}

/// Upstream's `validateJobSpec`, shared with CronJob job templates.
pub fn validate_job_spec_body(errs: &mut FieldErrors, spec: &JobSpec, path: &FieldPath) {
    for (v, f) in [
        (spec.parallelism.map(i64::from), "parallelism"),
        (spec.completions.map(i64::from), "completions"),
        (spec.active_deadline_seconds, "activeDeadlineSeconds"),
        (spec.backoff_limit.map(i64::from), "backoffLimit"),
        (spec.ttl_seconds_after_finished.map(i64::from), "ttlSecondsAfterFinished"),
        (spec.backoff_limit_per_index.map(i64::from), "backoffLimitPerIndex"),
    ] {
        if let Some(v) = v {
            nonnegative(errs, v, &path.child(f));
        }
    }
    if let Some(m) = spec.max_failed_indexes {
        nonnegative(errs, i64::from(m), &path.child("maxFailedIndexes"));
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required(&path.child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"));
        }
    }
    if let Some(mb) = &spec.managed_by {
        domain_prefixed_path(errs, mb, &path.child("managedBy"));
        if mb.len() > 63 {
            errs.push(FieldError::too_long(&path.child("managedBy"), 63));
        }
    }
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    if let Some(mode) = &spec.completion_mode
        && mode != "NonIndexed"
        && mode != "Indexed"
    {
        errs.push(FieldError::not_supported(&path.child("completionMode"), mode.as_str(), &["NonIndexed", "Indexed"]));
    }
    if indexed {
        if spec.completions.is_none() {
            errs.push(FieldError::required(&path.child("completions"), "when completion mode is Indexed"));
        }
        if let Some(p) = spec.parallelism.filter(|p| *p > MAX_PARALLELISM_INDEXED) {
            errs.push(FieldError::invalid(
                &path.child("parallelism"),
                p,
                format!("must be less than or equal to {MAX_PARALLELISM_INDEXED} when completion mode is Indexed"),
            ));
        }
        if let (Some(c), Some(m)) = (spec.completions, spec.max_failed_indexes)
            && m > c
        {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                m,
                "must be less than or equal to completions",
            ));
        }
        if let Some(m) = spec.max_failed_indexes.filter(|m| *m > MAX_FAILED_INDEXES) {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                m,
                format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
            ));
        }
        if spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && spec.backoff_limit_per_index.is_some() {
            if spec.max_failed_indexes.is_none() {
                errs.push(FieldError::required(
                    &path.child("maxFailedIndexes"),
                    format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
                ));
            }
            if let Some(p) = spec.parallelism.filter(|p| *p > PARALLELISM_HIGH_COMPLETIONS) {
                errs.push(FieldError::invalid(
                    &path.child("parallelism"),
                    p,
                    format!("must be less than or equal to {PARALLELISM_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                ));
            }
            if let Some(m) = spec.max_failed_indexes.filter(|m| *m > MAX_FAILED_INDEXES_HIGH_COMPLETIONS) {
                errs.push(FieldError::invalid(
                    &path.child("maxFailedIndexes"),
                    m,
                    format!("must be less than or equal to {MAX_FAILED_INDEXES_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                ));
            }
        }
    } else {
        if let Some(b) = spec.backoff_limit_per_index {
            errs.push(FieldError::invalid(&path.child("backoffLimitPerIndex"), b, "requires indexed completion mode"));
        }
        if let Some(m) = spec.max_failed_indexes {
            errs.push(FieldError::invalid(&path.child("maxFailedIndexes"), m, "requires indexed completion mode"));
        }
    }
    if let Some(pfp) = &spec.pod_failure_policy {
        validate_pod_failure_policy(errs, spec, pfp, &path.child("podFailurePolicy"));
    }
    if let Some(sp) = &spec.success_policy {
        if !indexed {
            errs.push(FieldError::invalid(&path.child("successPolicy"), json(sp), "requires indexed completion mode"));
        } else if sp.rules.is_empty() {
            errs.push(FieldError::required(
                &path.child("successPolicy").child("rules"),
                "at least one rules must be specified when the successPolicy is specified",
            ));
        } else if sp.rules.len() > 20 {
            errs.push(FieldError::too_many(&path.child("successPolicy").child("rules"), sp.rules.len(), 20));
        }
    }
    if let Some(rp) = &spec.pod_replacement_policy {
        let rpp = path.child("podReplacementPolicy");
        if spec.pod_failure_policy.is_some() {
            if rp != "Failed" {
                errs.push(FieldError::not_supported(&rpp, rp.as_str(), &["Failed"]));
            }
        } else if rp != "Failed" && rp != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(&rpp, rp.as_str(), &["Failed", "TerminatingOrFailed"]));
        }
    }
    let tp = path.child("template");
    validate_pod_template_spec(errs, &spec.template, &tp);
    let rp = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("");
    let rpp = tp.child("spec").child("restartPolicy");
    match rp {
        "Always" | "" => errs.push(FieldError::required(&rpp, "valid values: \"OnFailure\", \"Never\"")),
        "OnFailure" | "Never" => {
            if spec.pod_failure_policy.is_some() && rp != "Never" {
                errs.push(FieldError::invalid(
                    &rpp,
                    rp,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(&rpp, other, &["OnFailure", "Never"])),
    }
}

fn validate_pod_failure_policy(errs: &mut FieldErrors, spec: &JobSpec, pfp: &PodFailurePolicy, path: &FieldPath) {
    let rp = path.child("rules");
    if pfp.rules.len() > 20 {
        errs.push(FieldError::too_many(&rp, pfp.rules.len(), 20));
    }
    let tspec = spec.template.spec.as_ref();
    let containers: Vec<&str> = tspec
        .map(|t| t.containers.iter().chain(t.init_containers.iter().flatten()).map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    for (i, rule) in pfp.rules.iter().enumerate() {
        let p = rp.index(i);
        let ap = p.child("action");
        match rule.action.as_str() {
            "" => {
                errs.push(FieldError::required(&ap, "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]"))
            }
            "FailIndex" if spec.backoff_limit_per_index.is_none() => {
                errs.push(FieldError::invalid(&ap, "FailIndex", "requires the backoffLimitPerIndex to be set"));
            }
            a if !ACTIONS.contains(&a) => errs.push(FieldError::not_supported(&ap, a, ACTIONS)),
            _ => {}
        }
        if let Some(oe) = &rule.on_exit_codes {
            let op = p.child("onExitCodes");
            match oe.operator.as_str() {
                "" => errs.push(FieldError::required(&op.child("operator"), "valid values: [\"In\" \"NotIn\"]")),
                "In" | "NotIn" => {}
                other => errs.push(FieldError::not_supported(&op.child("operator"), other, &["In", "NotIn"])),
            }
            if let Some(c) = oe.container_name.as_deref().filter(|c| !containers.contains(c)) {
                errs.push(FieldError::invalid(
                    &op.child("containerName"),
                    c,
                    "must be one of the container or initContainer names in the pod template",
                ));
            }
            let vp = op.child("values");
            if oe.values.is_empty() {
                errs.push(FieldError::invalid(&vp, json(&oe.values), "at least one value is required"));
            } else if oe.values.len() > 255 {
                errs.push(FieldError::too_many(&vp, oe.values.len(), 255));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (j, v) in oe.values.iter().enumerate() {
                if oe.operator == "In" && *v == 0 {
                    errs.push(FieldError::invalid(&vp.index(j), *v, "must not be 0 for the In operator"));
                }
                if !seen.insert(*v) {
                    errs.push(FieldError::duplicate(&vp.index(j), *v));
                }
            }
            if oe.values.windows(2).any(|w| w[0] > w[1]) {
                errs.push(FieldError::invalid(&vp, json(&oe.values), "must be ordered"));
            }
        }
        let conds = rule.on_pod_conditions.as_deref().unwrap_or_default();
        if conds.len() > 20 {
            errs.push(FieldError::too_many(&p.child("onPodConditions"), conds.len(), 20));
        }
        for (j, c) in conds.iter().enumerate() {
            let cp = p.child("onPodConditions").index(j);
            qualified_name(errs, &c.type_, &cp.child("type"));
            match c.status.as_str() {
                "" => errs
                    .push(FieldError::required(&cp.child("status"), "valid values: [\"False\" \"True\" \"Unknown\"]")),
                "True" | "False" | "Unknown" => {}
                other => {
                    errs.push(FieldError::not_supported(&cp.child("status"), other, &["False", "True", "Unknown"]))
                }
            }
        }
        let (has_codes, has_conds) = (rule.on_exit_codes.is_some(), !conds.is_empty());
        if has_codes && has_conds {
            errs.push(crate::kinds::common::invalid_repr(
                &p,
                "field.OmitValueType{}",
                "specifying both OnExitCodes and OnPodConditions is not supported",
            ));
        }
        if !has_codes && !has_conds {
            errs.push(crate::kinds::common::invalid_repr(
                &p,
                "field.OmitValueType{}",
                "specifying one of OnExitCodes and OnPodConditions is required",
            ));
        }
    }
}

/// Upstream's `IsDomainPrefixedPath`: `example.com/path`.
fn domain_prefixed_path(errs: &mut FieldErrors, v: &str, path: &FieldPath) {
    match v.split_once('/') {
        None => errs.push(FieldError::invalid(path, v, "must be a domain-prefixed path (such as \"acme.io/foo\")")),
        Some((host, rest)) => {
            for m in names::is_dns1123_subdomain(host) {
                errs.push(FieldError::invalid(path, host, m));
            }
            if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c)) {
                errs.push(FieldError::invalid(path, rest, "Invalid path"));
            }
        }
    }
}

/// The template may not change, except scheduling directives of a suspended job that never
/// started (upstream's `validatePodTemplateUpdate`).
fn validate_template_update(errs: &mut FieldErrors, new: &JobSpec, old: &JobSpec, old_job: &Job) {
    let mut old_t: PodTemplateSpec = old.template.clone();
    let suspended = old.suspend == Some(true);
    let never_started = old_job.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none();
    if suspended && never_started {
        let (n, o) = (new.template.spec.clone().unwrap_or_default(), old_t.spec.get_or_insert_with(Default::default));
        match (&n.affinity, &mut o.affinity) {
            (None, Some(a)) => {
                a.node_affinity = None;
                if *a == Default::default() {
                    o.affinity = None;
                }
            }
            (Some(na), None) => {
                o.affinity = Some(k8s_openapi::api::core::v1::Affinity {
                    node_affinity: na.node_affinity.clone(),
                    ..Default::default()
                })
            }
            (Some(na), Some(a)) => a.node_affinity = na.node_affinity.clone(),
            (None, None) => {}
        }
        o.node_selector = n.node_selector.clone();
        o.tolerations = n.tolerations.clone();
        o.scheduling_gates = n.scheduling_gates.clone();
        let nm = new.template.metadata.clone().unwrap_or_default();
        let om = old_t.metadata.get_or_insert_with(Default::default);
        om.annotations = nm.annotations.clone();
        om.labels = nm.labels.clone();
    }
    if new.template != old_t {
        errs.push(FieldError::invalid(&FieldPath::new("spec").child("template"), json(&new.template), IMMUTABLE_MSG));
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("batch", "v1", "jobs").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn job(template_spec: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default", "uid": "uid-1"},
            "spec": {"template": {"spec": template_spec}}})
    }

    fn minimal() -> Value {
        job(json!({"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}))
    }

    #[test]
    fn defaults_and_generated_selector() {
        let j = admit(Operation::Create, minimal(), None).unwrap();
        let spec = &j["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["manualSelector"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(spec["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}}));
        let labels = json!({
            "batch.kubernetes.io/controller-uid": "uid-1", "batch.kubernetes.io/job-name": "pi",
            "controller-uid": "uid-1", "job-name": "pi"
        });
        assert_eq!(spec["template"]["metadata"]["labels"], labels);
        assert_eq!(j["metadata"]["labels"], labels);
        assert_eq!(j["status"], json!({}));
    }

    #[test]
    fn job_labels_come_from_the_template_as_given() {
        let mut j = minimal();
        j["spec"]["template"]["metadata"] = json!({"labels": {"app": "pi"}});
        let out = admit(Operation::Create, j, None).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "pi"}));
        assert_eq!(out["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "pi");
    }

    #[test]
    fn restart_policy_must_be_on_failure_or_never() {
        let err =
            admit(Operation::Create, job(json!({"containers": [{"name": "pi", "image": "perl"}]})), None).unwrap_err();
        assert_eq!(err, r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#);
    }

    #[test]
    fn manual_selector_must_match_template() {
        let mut j = minimal();
        j["spec"]["manualSelector"] = json!(true);
        j["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        let err = admit(Operation::Create, j, None).unwrap_err();
        assert_eq!(
            err,
            "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`"
        );
    }

    #[test]
    fn template_is_immutable_unless_suspended_and_unstarted() {
        let old = admit(Operation::Create, minimal(), None).unwrap();
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5");
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert!(err.starts_with("spec.template: Invalid value: {"), "{err}");
        assert!(err.ends_with(": field is immutable"), "{err}");

        let mut suspended = minimal();
        suspended["spec"]["suspend"] = json!(true);
        let old = admit(Operation::Create, suspended, None).unwrap();
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        assert!(admit(Operation::Update, new, Some(&old)).is_ok());
    }
}
