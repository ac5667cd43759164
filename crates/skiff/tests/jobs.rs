//! The Job, CronJob and TTL-after-finished controllers against a live server with hollow
//! nodes: an Indexed Job runs `parallelism` pods at a time to completion, a failing Job stops
//! at its backoff limit, a CronJob starts scheduled runs and keeps its history limit, and a
//! finished Job with a zero TTL is deleted.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(40);

/// A Job whose pods finish after a second (Failed with `exit_code` nonzero).
fn job(name: &str, spec: serde_json::Value, exit_code: i32) -> Job {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": {
                    "sim.skiff.dev/complete-after": "1s",
                    "sim.skiff.dev/exit-code": exit_code.to_string(),
                }},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    });
    for (k, val) in spec.as_object().unwrap() {
        v["spec"][k] = val.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_ && c.status == "True")
}

async fn reasons(client: &kube::Client, name: &str) -> BTreeSet<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
async fn an_indexed_job_runs_two_at_a_time_until_every_index_succeeded() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let spec = json!({"completionMode": "Indexed", "completions": 4, "parallelism": 2});
    jobs.create(&PostParams::default(), &job("calc", spec, 0)).await.unwrap();
    let kubectl = Kubectl::required(&["1.33"]).into_iter().next();
    let waiter = kubectl
        .as_ref()
        .map(|k| server.kubectl(k).spawn(&["wait", "--for=condition=complete", "job/calc", "--timeout=40s"]));

    // Most pods seen active at once, and every pod name seen.
    let seen = Arc::new(Mutex::new((0, BTreeSet::new())));
    let done = eventually("the Indexed Job to complete", WAIT, log, || {
        let (jobs, pods, seen) = (jobs.clone(), pods.clone(), seen.clone());
        async move {
            let list = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=calc")).await.ok()?;
            let active = list
                .items
                .iter()
                .filter(|p| {
                    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
                    p.metadata.deletion_timestamp.is_none() && phase != "Succeeded" && phase != "Failed"
                })
                .count();
            {
                let mut seen = seen.lock().unwrap();
                seen.0 = seen.0.max(active);
                seen.1.extend(list.items.iter().filter_map(|p| p.metadata.name.clone()));
            }
            let j = jobs.get("calc").await.ok()?;
            condition(&j, "Complete").is_some().then_some(j)
        }
    })
    .await;
    let (most_active, names) = seen.lock().unwrap().clone();
    assert!(most_active <= 2, "saw {most_active} active pods at once");
    assert_eq!(names.len(), 4, "one pod per index: {names:?}");
    let st = done.status.clone().unwrap();
    assert_eq!(st.completed_indexes.as_deref(), Some("0-3"));
    assert_eq!((st.succeeded, st.failed.unwrap_or(0), st.active.unwrap_or(0)), (Some(4), 0, 0));
    assert!(st.completion_time.is_some() && st.start_time.is_some());
    let complete = condition(&done, "Complete").unwrap();
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    assert!(condition(&done, "SuccessCriteriaMet").is_some());

    // Each pod carries its index and lost the tracking finalizer once counted.
    let list = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=calc")).await.unwrap();
    let mut indexes = BTreeSet::new();
    for p in &list.items {
        let ix = p.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"].clone();
        assert_eq!(p.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"], ix);
        let name = p.metadata.name.as_deref().unwrap();
        assert!(name.starts_with(&format!("calc-{ix}-")), "{name}");
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("calc-{ix}").as_str()));
        let env = spec.containers[0].env.as_ref().unwrap();
        assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
        assert!(!p.metadata.finalizers.iter().flatten().any(|f| f == "batch.kubernetes.io/job-tracking"));
        indexes.insert(ix);
    }
    assert_eq!(indexes.into_iter().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
    let seen_reasons = eventually("the Completed event", WAIT, log, || async {
        let r = reasons(&client, "calc").await;
        r.contains("Completed").then_some(r)
    })
    .await;
    assert!(seen_reasons.contains("SuccessfulCreate"), "{seen_reasons:?}");
    if let Some(child) = waiter {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "kubectl wait: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("job.batch/calc condition met"), "{stdout}");
    }
}

#[tokio::test]
async fn a_job_whose_pods_fail_stops_at_its_backoff_limit() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    jobs.create(&PostParams::default(), &job("doomed", json!({"backoffLimit": 1}), 1)).await.unwrap();
    // Two failures (the second after the 10 s back-off) exceed a limit of one.
    let failed = eventually("the Job to fail", WAIT, log, || async {
        let j = jobs.get("doomed").await.ok()?;
        condition(&j, "Failed").is_some().then_some(j)
    })
    .await;
    let c = condition(&failed, "Failed").unwrap();
    assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(c.message.as_deref(), Some("Job has reached the specified backoff limit"));
    assert!(condition(&failed, "FailureTarget").is_some());
    let st = failed.status.unwrap();
    assert_eq!((st.failed, st.succeeded.unwrap_or(0), st.active.unwrap_or(0)), (Some(2), 0, 0));
    assert!(st.completion_time.is_none());
    eventually("the BackoffLimitExceeded event", WAIT, log, || async {
        reasons(&client, "doomed").await.contains("BackoffLimitExceeded").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_finished_job_with_a_zero_ttl_is_deleted() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    jobs.create(&PostParams::default(), &job("brief", json!({"ttlSecondsAfterFinished": 0}), 0)).await.unwrap();
    eventually("the Job to finish and be deleted", WAIT, log, || async {
        match jobs.get("brief").await {
            Err(kube::Error::Api(s)) if s.code == 404 => Some(()),
            _ => None,
        }
    })
    .await;
}

#[tokio::test]
async fn a_cron_job_starts_scheduled_runs_and_keeps_its_history_limit() {
    let Some(kubectl) = Kubectl::required(&["1.33"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let cj: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "*/1 * * * *",
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"sim.skiff.dev/complete-after": "1s"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            }}},
        },
    }))
    .unwrap();
    cronjobs.create(&PostParams::default(), &cj).await.unwrap();
    // A manual run first: it finishes long before the first scheduled one.
    server.kubectl(&kubectl).run(&["create", "job", "--from=cronjob/tick", "by-hand"]).ok();
    eventually("the manual run to complete", WAIT, log, || async {
        let j = jobs.get("by-hand").await.ok()?;
        condition(&j, "Complete").map(|_| ())
    })
    .await;

    // The first scheduled run starts at the next minute boundary.
    let run = eventually("a scheduled run to complete", Duration::from_secs(75), log, || async {
        let list = jobs.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|j| {
            j.metadata.name.as_deref().is_some_and(|n| n.starts_with("tick-")) && condition(j, "Complete").is_some()
        })
    })
    .await;
    let name = run.metadata.name.clone().unwrap();
    let scheduled =
        run.metadata.annotations.as_ref().unwrap()["batch.kubernetes.io/cronjob-scheduled-timestamp"].clone();
    let at: k8s_openapi::jiff::Timestamp = scheduled.parse().unwrap();
    assert_eq!(name, format!("tick-{}", at.as_second() / 60));
    assert_eq!(at.as_second() % 60, 0);

    // With a history of one, the older manual run is deleted; the status tells the story.
    let cj = eventually("the history limit and status", WAIT, log, || async {
        let names: Vec<String> =
            jobs.list(&ListParams::default()).await.ok()?.items.into_iter().filter_map(|j| j.metadata.name).collect();
        let cj = cronjobs.get("tick").await.ok()?;
        let st = cj.status.clone()?;
        let done = names == [name.clone()]
            && st.active.as_ref().is_none_or(|a| a.is_empty())
            && st.last_successful_time.is_some();
        done.then_some(cj)
    })
    .await;
    let st = cj.status.unwrap();
    assert_eq!(st.last_schedule_time.unwrap().0, at);
    let r = eventually("the CronJob's events", WAIT, log, || async {
        let r = reasons(&client, "tick").await;
        ["SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"].iter().all(|x| r.contains(*x)).then_some(r)
    })
    .await;
    assert!(r.contains("UnexpectedJob"), "the manual run was not in the active list: {r:?}");
}

#[tokio::test]
async fn a_suspended_job_runs_nothing_until_resumed_and_a_deadline_fails_a_job() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    jobs.create(&PostParams::default(), &job("later", json!({"suspend": true}), 0)).await.unwrap();
    let held = eventually("the Suspended condition", WAIT, log, || async {
        let j = jobs.get("later").await.ok()?;
        condition(&j, "Suspended").is_some().then_some(j)
    })
    .await;
    assert!(held.status.unwrap().start_time.is_none());
    let list = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=later")).await.unwrap();
    assert!(list.items.is_empty(), "a suspended Job starts no pods");
    let resume = Patch::Merge(json!({"spec": {"suspend": false}}));
    jobs.patch("later", &PatchParams::default(), &resume).await.unwrap();
    let done = eventually("the resumed Job to complete", WAIT, log, || async {
        let j = jobs.get("later").await.ok()?;
        condition(&j, "Complete").is_some().then_some(j)
    })
    .await;
    let suspended = done.status.as_ref().unwrap().conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Suspended");
    assert_eq!(suspended.map(|c| (c.status.as_str(), c.reason.as_deref())), Some(("False", Some("JobResumed"))));
    eventually("the Suspended and Resumed events", WAIT, log, || async {
        let r = reasons(&client, "later").await;
        (r.contains("Suspended") && r.contains("Resumed")).then_some(())
    })
    .await;

    // Pods that never finish: the deadline fails the Job and removes them.
    let mut forever = job("bounded", json!({"activeDeadlineSeconds": 2, "parallelism": 2, "completions": 4}), 0);
    forever.spec.as_mut().unwrap().template.metadata.as_mut().unwrap().annotations = None;
    jobs.create(&PostParams::default(), &forever).await.unwrap();
    let failed = eventually("the deadline to fail the Job", WAIT, log, || async {
        let j = jobs.get("bounded").await.ok()?;
        condition(&j, "Failed").is_some().then_some(j)
    })
    .await;
    let c = condition(&failed, "Failed").unwrap();
    assert_eq!(c.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(c.message.as_deref(), Some("Job was active longer than specified deadline"));
    assert_eq!(failed.status.as_ref().unwrap().failed, Some(2));
    eventually("the Job's pods to be gone", WAIT, log, || async {
        let list = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=bounded")).await.ok()?;
        list.items.is_empty().then_some(())
    })
    .await;
}
