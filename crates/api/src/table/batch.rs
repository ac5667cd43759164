//! Printers for batch/v1 kinds.

use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition};
use serde_json::{Value, json};

use super::cells::{CONTAINERS, IMAGES, NONE, bool_ptr, format_label_selector, name, secs, since, template_cells};
use super::{AGE, Column, NAME, TablePrinter, age_cell};
use crate::time::human_duration;

const SELECTOR: Column = Column::new("Selector", "string", "Label selector of the job's pods.").wide();

impl TablePrinter for Job {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Status", "string", "Status of the job."),
            Column::new("Completions", "string", "Succeeded pods out of the completions wanted."),
            Column::new("Duration", "string", "Time the job ran, or has been running."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
            SELECTOR,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let [names, images] = template_cells(Some(&spec.template));
        vec![
            name(&self.metadata),
            job_status(self).into(),
            job_completions(self).into(),
            job_duration(self, now).into(),
            age_cell(object, now),
            names,
            images,
            format_label_selector(spec.selector.as_ref()).into(),
        ]
    }
}

/// Whether the first condition of this type is true.
fn has_condition(conditions: &[JobCondition], type_: &str) -> bool {
    conditions.iter().find(|c| c.type_ == type_).is_some_and(|c| c.status == "True")
}

/// Finished states first, then deletion, then the states a live job can be in.
fn job_status(job: &Job) -> &'static str {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// `2/3`, or for a job without a completion count (done when any pod succeeds) `0/1`, noting
/// the parallelism when several pods run at once: `0/1 of 3`.
fn job_completions(job: &Job) -> String {
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
    let spec = job.spec.as_ref();
    match spec.and_then(|s| s.completions) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match spec.and_then(|s| s.parallelism).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// Start to completion, or start to now while running; blank before the job starts.
fn job_duration(job: &Job, now: i64) -> String {
    let status = job.status.as_ref();
    let Some(start) = status.and_then(|s| s.start_time.as_ref()).map(secs) else { return String::new() };
    let end = status.and_then(|s| s.completion_time.as_ref()).map_or(now, secs);
    human_duration(end - start)
}

impl TablePrinter for CronJob {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Schedule", "string", "The cron schedule."),
            Column::new("Timezone", "string", "Time zone the schedule is read in."),
            Column::new("Suspend", "boolean", "Whether new runs are suspended."),
            Column::new("Active", "integer", "Number of running jobs."),
            Column::new("Last Schedule", "string", "How long ago a job was last scheduled."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
            SELECTOR,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let job_spec = spec.job_template.spec.unwrap_or_default();
        let [names, images] = template_cells(Some(&job_spec.template));
        vec![
            name(&self.metadata),
            spec.schedule.into(),
            spec.time_zone.as_deref().unwrap_or(NONE).into(),
            bool_ptr(spec.suspend).into(),
            json!(status.active.map_or(0, |a| a.len())),
            last_schedule(self, now).into(),
            age_cell(object, now),
            names,
            images,
            format_label_selector(job_spec.selector.as_ref()).into(),
        ]
    }
}

/// How long ago the last job was scheduled, `<none>` if never.
fn last_schedule(cj: &CronJob, now: i64) -> String {
    match cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()) {
        Some(t) => since(Some(t), now),
        None => NONE.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn job(v: Value) -> Job {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn completions() {
        assert_eq!(job_completions(&job(json!({"spec": {"completions": 3}, "status": {"succeeded": 2}}))), "2/3");
        assert_eq!(job_completions(&job(json!({"spec": {"parallelism": 1}}))), "0/1");
        assert_eq!(job_completions(&job(json!({"spec": {"parallelism": 4}, "status": {"succeeded": 1}}))), "1/1 of 4");
        assert_eq!(job_completions(&Job::default()), "0/1");
    }

    #[test]
    fn duration() {
        assert_eq!(job_duration(&Job::default(), NOW), "");
        let running = job(json!({"status": {"startTime": "2023-11-14T22:10:00Z"}}));
        assert_eq!(job_duration(&running, NOW), "3m20s");
        let done =
            job(json!({"status": {"startTime": "2023-11-14T20:00:00Z", "completionTime": "2023-11-14T20:00:42Z"}}));
        assert_eq!(job_duration(&done, NOW), "42s");
    }

    #[test]
    fn status() {
        let with = |conds: Value| job(json!({"status": {"conditions": conds}}));
        assert_eq!(job_status(&Job::default()), "Running");
        assert_eq!(job_status(&with(json!([{"type": "Complete", "status": "True"}]))), "Complete");
        assert_eq!(job_status(&with(json!([{"type": "Failed", "status": "True"}]))), "Failed");
        assert_eq!(job_status(&with(json!([{"type": "Suspended", "status": "True"}]))), "Suspended");
        assert_eq!(job_status(&with(json!([{"type": "Suspended", "status": "False"}]))), "Running");
        assert_eq!(job_status(&with(json!([{"type": "FailureTarget", "status": "True"}]))), "FailureTarget");
        let deleting = job(json!({"metadata": {"deletionTimestamp": "2023-11-14T22:00:00Z"},
            "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}));
        assert_eq!(job_status(&deleting), "Terminating");
    }

    #[test]
    fn cronjob_row() {
        let cj: CronJob = serde_json::from_value(json!({
            "spec": {"schedule": "*/5 * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "j1"}], "lastScheduleTime": "2023-11-14T22:08:20Z"},
        }))
        .unwrap();
        let row = cj.row(&json!({}), NOW);
        assert_eq!(row[1..6], [json!("*/5 * * * *"), json!("<none>"), json!("False"), json!(1), json!("5m")]);
        assert_eq!(row[7..], [json!("c"), json!("busybox"), json!("<none>")]);
        assert_eq!(last_schedule(&CronJob::default(), NOW), "<none>");
        assert_eq!(CronJob::default().row(&json!({}), NOW)[3], "<unset>");
    }
}
