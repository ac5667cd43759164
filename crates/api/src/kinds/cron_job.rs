//! CronJobs: defaults (Allow, not suspended, keep 3 successful and 1 failed job), a parseable
//! schedule without `TZ=`, a valid time zone name, a job template whose selector is generated,
//! and names short enough for the jobs they spawn (upstream's `ValidateCronJobCreate`).

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, JobTemplateSpec};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{default_str, default_to, go_label_selector, invalid_repr, nonnegative, s};
use crate::kinds::cron;
use crate::kinds::job::validate_job_spec_body;
use crate::kinds::pod_spec::default_template;
use crate::kinds::workload::drop_disabled_template;
use crate::strategy::KindRules;

/// Jobs are named `<cronjob>-<11 chars>` and must fit in 63 characters.
const MAX_NAME: usize = 52;

impl KindRules for CronJob {
    fn prepare_for_create(&mut self) {
        self.status = Some(CronJobStatus::default());
        if let Some(t) = self.spec.as_mut().and_then(|s| s.job_template.spec.as_mut()) {
            drop_disabled_template(&mut t.template, None);
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let old_t = old.spec.as_ref().and_then(|s| s.job_template.spec.as_ref()).map(|s| &s.template);
        if let Some(t) = self.spec.as_mut().and_then(|s| s.job_template.spec.as_mut()) {
            drop_disabled_template(&mut t.template, old_t);
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_str(&mut spec.concurrency_policy, "Allow");
        default_to(&mut spec.suspend, false);
        default_to(&mut spec.successful_jobs_history_limit, 3);
        default_to(&mut spec.failed_jobs_history_limit, 1);
        // Only the pod template inside is defaulted; Job defaults apply to the Jobs created.
        default_template(&mut spec.job_template.spec.get_or_insert_with(Default::default).template);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = validate_spec(self, None);
        let name = self.metadata.name.as_deref().unwrap_or("");
        if name.len() > MAX_NAME {
            errs.push(FieldError::invalid(
                &FieldPath::new("metadata").child("name"),
                name,
                format!("must be no more than {MAX_NAME} characters"),
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        // Longer names of existing CronJobs stay updatable.
        validate_spec(self, Some(old))
    }
}

fn validate_spec(cj: &CronJob, old: Option<&CronJob>) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let spec = cj.spec.clone().unwrap_or_default();
    let old_spec = old.and_then(|o| o.spec.clone());
    let path = FieldPath::new("spec");
    let sp = path.child("schedule");
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&sp, ""));
    } else {
        if let Err(e) = cron::parse(&spec.schedule) {
            errs.push(FieldError::invalid(&sp, spec.schedule.as_str(), e));
        }
        let allow_tz = old_spec.as_ref().is_some_and(|o| o.schedule.contains("TZ"));
        if allow_tz && spec.schedule.contains("TZ") && spec.time_zone.is_some() {
            errs.push(FieldError::invalid(
                &sp,
                spec.schedule.as_str(),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && spec.schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &sp,
                spec.schedule.as_str(),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    if let Some(d) = spec.starting_deadline_seconds {
        nonnegative(&mut errs, d, &path.child("startingDeadlineSeconds"));
    }
    if old_spec.as_ref().is_none_or(|o| o.time_zone != spec.time_zone) {
        time_zone(&mut errs, spec.time_zone.as_deref(), &path.child("timeZone"));
    }
    let cp = path.child("concurrencyPolicy");
    match s(&spec.concurrency_policy) {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(&cp, "")),
        other => errs.push(FieldError::not_supported(&cp, other, &["Allow", "Forbid", "Replace"])),
    }
    validate_job_template(&mut errs, &spec.job_template, &path.child("jobTemplate"));
    for (v, f) in [
        (spec.successful_jobs_history_limit, "successfulJobsHistoryLimit"),
        (spec.failed_jobs_history_limit, "failedJobsHistoryLimit"),
    ] {
        if let Some(v) = v {
            nonnegative(&mut errs, i64::from(v), &path.child(f));
        }
    }
    errs
}

/// Upstream's `ValidateJobTemplateSpec`: the job spec, with the selector left to generation.
fn validate_job_template(errs: &mut FieldErrors, t: &JobTemplateSpec, path: &FieldPath) {
    let spec = t.spec.clone().unwrap_or_default();
    let sp = path.child("spec");
    validate_job_spec_body(errs, &spec, &sp);
    if let Some(sel) = &spec.selector {
        errs.push(invalid_repr(&sp.child("selector"), go_label_selector(sel), "`selector` will be auto-generated"));
    }
    if spec.manual_selector == Some(true) {
        errs.push(crate::kinds::common::not_supported_repr(&sp.child("manualSelector"), "true", &["nil", "false"]));
    }
}

/// Time zone names: IANA-style components (the zone database itself is not consulted).
fn time_zone(errs: &mut FieldErrors, tz: Option<&str>, path: &FieldPath) {
    let Some(tz) = tz else { return };
    if tz.is_empty() {
        errs.push(FieldError::invalid(path, tz, "timeZone must be nil or non-empty string"));
        return;
    }
    let ok_part = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    };
    if !tz.split('/').all(ok_part) {
        errs.push(FieldError::invalid(path, tz, format!("unknown time zone {tz}")));
        return;
    }
    if tz.eq_ignore_ascii_case("local") {
        errs.push(FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("batch", "v1", "cronjobs").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn cj(name: &str, schedule: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"schedule": schedule, "jobTemplate": {"spec": {
            "template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}
        }}}})
    }

    #[test]
    fn defaults() {
        let c = admit(Operation::Create, cj("nightly", "0 3 * * *"), None).unwrap();
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["suspend"], false);
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
        assert!(c["spec"]["jobTemplate"]["spec"].get("backoffLimit").is_none());
        assert_eq!(c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn schedule_and_name_rules() {
        let err = admit(Operation::Create, cj("nightly", "0 3 * *"), None).unwrap_err();
        assert_eq!(err, r#"spec.schedule: Invalid value: "0 3 * *": expected exactly 5 fields, found 4: [0 3 * *]"#);
        let err = admit(Operation::Create, cj("nightly", ""), None).unwrap_err();
        assert_eq!(err, "spec.schedule: Required value");
        let long = "a".repeat(53);
        let err = admit(Operation::Create, cj(&long, "@hourly"), None).unwrap_err();
        assert_eq!(err, format!(r#"metadata.name: Invalid value: "{long}": must be no more than 52 characters"#));
        let err = admit(Operation::Create, cj("tz", "CRON_TZ=UTC 0 3 * * *"), None).unwrap_err();
        assert_eq!(
            err,
            r#"spec.schedule: Invalid value: "CRON_TZ=UTC 0 3 * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#
        );
    }
}
