//! The CronJob controller (upstream's pkg/controller/cronjob, "v2"): creates a Job from
//! the template at each scheduled time ([`schedule`], in `spec.timeZone` via [`timezone`]),
//! honours concurrencyPolicy, startingDeadlineSeconds and suspend, tracks the active Jobs
//! and the last schedule and success in status, and deletes finished Jobs beyond the
//! history limits. Start reading at [`sync`].

mod history;
mod schedule;
mod sync;
mod timezone;

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::ObjectMeta;
use skiff_runtime::{Change, Informer, WorkQueue, key_of, run_workers};

pub use schedule::Cron;

use crate::context::Context;
use crate::owner::{CONTROLLER_UID_INDEX, controller_of, controller_uid};

/// Event source, as upstream names it.
const COMPONENT: &str = "cronjob-controller";
/// CronJobs synced at once (upstream's --concurrent-cron-job-syncs).
const WORKERS: usize = 5;

pub fn start(ctx: &Context) {
    let cronjobs = ctx.informers.get::<CronJob>();
    let jobs = ctx.informers.get::<Job>();
    jobs.add_index(CONTROLLER_UID_INDEX, |j: &Job| controller_uid(&j.metadata));
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        cronjobs: cronjobs.clone(),
        jobs: jobs.clone(),
        queue: WorkQueue::new(),
    });
    let this = c.clone();
    cronjobs.on_change(move |change| {
        if !matches!(change, Change::Deleted(_)) {
            this.queue.add(key_of(&**change.object()));
        }
    });
    let this = c.clone();
    jobs.on_change(move |change| match change {
        Change::Added(j) | Change::Deleted(j) => this.enqueue_owner(&j.metadata),
        Change::Updated { old, new } => {
            if controller_of(&old.metadata) != controller_of(&new.metadata) {
                this.enqueue_owner(&old.metadata);
            }
            this.enqueue_owner(&new.metadata);
        }
    });
    let this = c.clone();
    run_workers(COMPONENT, c.queue.clone(), WORKERS, move |key| this.clone().sync(key), ctx.shutdown.clone());
}

struct Controller {
    ctx: Context,
    cronjobs: Informer<CronJob>,
    jobs: Informer<Job>,
    queue: WorkQueue<String>,
}

impl Controller {
    /// Queue the CronJob controlling a Job, if it is in the cache with that uid.
    fn enqueue_owner(&self, meta: &ObjectMeta) {
        let Some(r) = controller_of(meta).filter(|r| r.kind == "CronJob") else { return };
        let ns = meta.namespace.as_deref().unwrap_or_default();
        if let Some(cj) = self.cronjobs.get_named(ns, &r.name)
            && cj.metadata.uid.as_deref() == Some(r.uid.as_str())
        {
            self.queue.add(key_of(&*cj));
        }
    }
}
