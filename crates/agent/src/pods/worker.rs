//! One task per pod, kubelet's pod worker: it makes the sandbox and volumes, runs the init
//! containers in order and then the containers, restarts them as the restart policy says (with
//! back-off), reports status, and on deletion stops everything gracefully and removes every
//! trace: containers, mounts, namespaces, cgroups, state and logs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Shared;
use super::actions::{self, Action, Target};
use super::container::{self, ImageDefaults};
use super::env::{self, Sources};
use super::fields;
use super::files::{self, PodFiles};
use super::probes::{self, Kind, Verdict};
use super::run::{self, Run, RunImage};
use super::slot::Slot;
use super::status;
use super::view::{ContainerView, PodView};
use super::volumes::{self, Prepared};
use crate::runtime::sandbox::Sandbox;
use crate::runtime::state::{self, Exited};
use crate::runtime::{ContainerIo, cgroups, rootfs};

/// Waiting reasons of a container that could not start (as opposed to one that crashed).
const START_FAILURES: [&str; 5] =
    ["ImagePullBackOff", "CreateContainerConfigError", "CreateContainerError", "ErrImageNeverPull", "InvalidImageName"];

/// A container run ended: (container, attempt, how).
type ExitNote = (String, u32, Exited);

pub struct Worker {
    shared: Arc<Shared>,
    uid: String,
    pod: Arc<Pod>,
    updates: watch::Receiver<Option<Arc<Pod>>>,
    exits_tx: mpsc::UnboundedSender<ExitNote>,
    exits: mpsc::UnboundedReceiver<ExitNote>,
    probes_tx: mpsc::UnboundedSender<probes::Note>,
    probes: mpsc::UnboundedReceiver<probes::Note>,
    slots: Vec<Slot>,
    dir: PathBuf,
    log_dir: PathBuf,
    sandbox: Sandbox,
    sandbox_ready: bool,
    volumes: Option<Prepared>,
    files: Option<PodFiles>,
    view: Arc<std::sync::Mutex<PodView>>,
    reported: Option<Value>,
    start_time: jiff::Timestamp,
    terminal: Option<&'static str>,
    /// When setup failed: retry at this time.
    retry_at: Option<Instant>,
    /// The OCI runtime of this pod (its RuntimeClass's, else the agent's default).
    runtime: crate::runtime::Runtime,
    runtime_resolved: bool,
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        pod: Arc<Pod>,
        updates: watch::Receiver<Option<Arc<Pod>>>,
        view: Arc<std::sync::Mutex<PodView>>,
    ) -> Worker {
        let uid = fields::uid(&pod).to_string();
        let dir = shared.pods_dir().join(&uid);
        let log_dir =
            crate::logs::pod_dir(&shared.config.pod_log_dir, fields::namespace(&pod), fields::name(&pod), &uid);
        let spec = pod.spec.clone().unwrap_or_default();
        let mut slots: Vec<Slot> = spec.init_containers.iter().flatten().map(|c| Slot::new(&c.name, true)).collect();
        slots.extend(spec.containers.iter().map(|c| Slot::new(&c.name, false)));
        let runtime = shared.runtime.clone();
        let (exits_tx, exits) = mpsc::unbounded_channel();
        let (probes_tx, probes) = mpsc::unbounded_channel();
        let sandbox = Sandbox::at(&dir.join("sandbox"), spec.host_network == Some(true));
        let start_time =
            pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0).unwrap_or_else(jiff::Timestamp::now);
        Worker {
            shared,
            uid,
            pod,
            updates,
            exits_tx,
            exits,
            probes_tx,
            probes,
            slots,
            dir,
            log_dir,
            sandbox,
            sandbox_ready: false,
            volumes: None,
            files: None,
            view,
            reported: None,
            start_time,
            terminal: None,
            retry_at: None,
            runtime,
            runtime_resolved: false,
        }
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        // Runs left by an earlier agent are stopped by the runtime that started them.
        if let Ok(r) = super::runtime_class::runtime_for(
            &self.shared.client,
            &self.shared.runtime,
            &self.shared.config.dir,
            &self.pod,
        )
        .await
        {
            self.runtime = r;
            self.runtime_resolved = true;
        }
        self.adopt();
        loop {
            let latest = self.updates.borrow_and_update().clone();
            match latest {
                None => return self.finish(false).await,
                Some(p) if p.metadata.deletion_timestamp.is_some() => {
                    self.pod = p;
                    return self.finish(true).await;
                }
                Some(p) => self.pod = p,
            }
            self.sync().await;
            self.report().await;
            let wake = self.next_wake();
            tokio::select! {
                changed = self.updates.changed() => if changed.is_err() { return self.finish(false).await },
                Some(note) = self.exits.recv() => self.exited(note),
                Some(note) = self.probes.recv() => self.probed(note).await,
                _ = sleep_until(wake) => {}
                _ = shutdown.changed() => return,
            }
            while let Ok(note) = self.exits.try_recv() {
                self.exited(note);
            }
            while let Ok(note) = self.probes.try_recv() {
                self.probed(note).await;
            }
        }
    }

    fn pod_ref(&self, container: Option<&str>) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: self.pod.metadata.name.clone(),
            namespace: self.pod.metadata.namespace.clone(),
            uid: self.pod.metadata.uid.clone(),
            field_path: container.map(|c| {
                let init = self.slots.iter().any(|s| s.init && s.name == c);
                format!("spec.{}{{{c}}}", if init { "initContainers" } else { "containers" })
            }),
            ..Default::default()
        }
    }

    async fn event(&self, container: Option<&str>, warning: bool, reason: &str, note: &str) {
        if let Err(e) = self.shared.recorder.publish(&self.pod_ref(container), warning, reason, note).await {
            tracing::debug!("recording event {reason}: {e}");
        }
    }

    /// Pick up runs left by an earlier agent (their containers may still run).
    fn adopt(&mut self) {
        // Containers with state but no longer in the spec (an orphan pod has no spec) are
        // tracked too, so that cleanup finds them.
        if let Ok(entries) = std::fs::read_dir(self.dir.join("containers")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !self.slots.iter().any(|s| s.name == name) {
                    self.slots.push(Slot::new(&name, false));
                }
            }
        }
        let mut watch = Vec::new();
        for slot in &mut self.slots {
            let cdir = self.dir.join("containers").join(&slot.name);
            let Ok(entries) = std::fs::read_dir(&cdir) else { continue };
            let mut attempts: Vec<u32> =
                entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
            attempts.sort_unstable();
            let mut runs: Vec<Run> = attempts
                .iter()
                .filter_map(|&a| {
                    let log = crate::logs::container_file(&self.log_dir, &slot.name, a);
                    Run::adopt(&cdir.join(a.to_string()), log, &self.uid, &slot.name, a)
                })
                .collect();
            slot.current = runs.pop();
            slot.previous = runs.pop();
            if let Some(r) = &slot.current {
                slot.waiting = None;
                if r.exited.is_none() {
                    watch.push((slot.name.clone(), r.dir.clone(), r.started.clone(), r.attempt));
                }
            }
        }
        for (name, dir, started, attempt) in watch {
            self.watch_exit_of(name.clone(), dir, started, attempt);
            self.start_probes(&name);
        }
        if self.sandbox.exists() {
            self.sandbox_ready = true;
        }
        self.publish_view();
    }

    fn watch_exit(&self, name: &str, run: &Run) {
        self.watch_exit_of(name.to_string(), run.dir.clone(), run.started.clone(), run.attempt);
    }

    fn watch_exit_of(&self, name: String, dir: PathBuf, started: state::Started, attempt: u32) {
        let (shared, tx) = (self.shared.clone(), self.exits_tx.clone());
        tokio::spawn(async move {
            let exited = shared.runtime.wait(&dir, &started).await;
            let _ = tx.send((name, attempt, exited));
        });
    }

    /// Start the probes of a container's current run; without probes it is started and ready.
    fn start_probes(&mut self, name: &str) {
        let spec = self.slots.iter().find(|s| s.name == name).and_then(|s| self.spec_of(s));
        let Some(slot) = self.slots.iter_mut().find(|s| s.name == name) else { return };
        let Some(run) = slot.current.as_ref() else { return };
        let Some(c) = spec else {
            (slot.started, slot.ready) = (true, true);
            return;
        };
        slot.started = !probes::has(&c, Kind::Startup);
        slot.ready = !probes::has(&c, Kind::Readiness);
        if slot.started && slot.ready && !probes::has(&c, Kind::Liveness) {
            return;
        }
        let age = jiff::Timestamp::now().duration_since(run.started.at).unsigned_abs();
        probes::spawn(probes::Spawn {
            container: c,
            attempt: run.attempt,
            id: run.id.clone(),
            runtime: self.runtime.clone(),
            netns: self.sandbox.namespace("net"),
            started_at: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
            running: run.running.subscribe(),
            notes: self.probes_tx.clone(),
        });
    }

    async fn probed(&mut self, note: probes::Note) {
        let Some(i) = self.slots.iter().position(|s| s.name == note.container) else { return };
        if self.slots[i].current.as_ref().is_none_or(|r| r.attempt != note.attempt || r.exited.is_some()) {
            return;
        }
        let name = note.container.clone();
        match note.event {
            Verdict::Passed => match note.kind {
                Kind::Startup => self.slots[i].started = true,
                Kind::Readiness => self.slots[i].ready = true,
                Kind::Liveness => {}
            },
            Verdict::Failed(why) => {
                self.event(Some(&name), true, "Unhealthy", &format!("{} probe failed: {why}", note.kind.name())).await;
            }
            Verdict::Gave(_) if note.kind == Kind::Readiness => self.slots[i].ready = false,
            Verdict::Gave(_) => {
                let what = if note.kind == Kind::Startup { "startup" } else { "liveness" };
                self.event(
                    Some(&name),
                    false,
                    "Killing",
                    &format!("Container {name} failed {what} probe, will be restarted"),
                )
                .await;
                let grace = self.probe_grace(&name, note.kind);
                let (runtime, id) = (self.runtime.clone(), self.slots[i].current.as_ref().map(|r| r.id.clone()));
                let signal = self.stop_signal(&name);
                if let Some(id) = id {
                    tokio::spawn(async move {
                        let _ = runtime.kill(&id, &signal).await;
                        tokio::time::sleep(grace).await;
                        let _ = runtime.kill(&id, "KILL").await;
                    });
                }
            }
        }
        self.publish_view();
    }

    /// The grace period of a probe-triggered kill: the probe's own, else the pod's.
    fn probe_grace(&self, name: &str, kind: Kind) -> Duration {
        let c = self.slots.iter().find(|s| s.name == name).and_then(|s| self.spec_of(s));
        let probe = c
            .as_ref()
            .and_then(|c| if kind == Kind::Startup { c.startup_probe.clone() } else { c.liveness_probe.clone() });
        let secs = probe
            .and_then(|p| p.termination_grace_period_seconds)
            .or_else(|| self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    fn exited(&mut self, (name, attempt, exited): ExitNote) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.name == name)
            && let Some(run) = slot.current.as_mut().filter(|r| r.attempt == attempt)
        {
            run.exited = Some(exited);
            let _ = run.running.send(false);
        }
        self.publish_view();
    }

    fn next_wake(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|s| s.not_before).chain(self.retry_at).min()
    }

    fn spec_of(&self, slot: &Slot) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        let list = if slot.init { spec.init_containers.as_deref().unwrap_or_default() } else { &spec.containers };
        list.iter().find(|c| c.name == slot.name).cloned()
    }

    /// One pass of the state machine: set up, then start what should run now.
    async fn sync(&mut self) {
        // A pod the API already knows as finished never runs again, even if this node lost
        // its local state.
        match self.pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Succeeded") => self.terminal = Some("Succeeded"),
            Some("Failed") => self.terminal = Some("Failed"),
            _ => {}
        }
        if self.terminal.is_some() {
            return;
        }
        let now = Instant::now();
        if self.retry_at.is_some_and(|t| t > now) {
            return;
        }
        self.retry_at = None;
        if let Err((reason, e)) = self.setup().await {
            tracing::warn!("pod {}/{}: {e}", fields::namespace(&self.pod), fields::name(&self.pod));
            self.event(None, true, reason, &e).await;
            for s in &mut self.slots {
                if s.current.is_none() {
                    s.waiting = Some(("ContainerCreating".into(), String::new()));
                }
            }
            self.retry_at = Some(now + Duration::from_secs(2));
            return;
        }
        let policy = self.pod.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into());
        // Init containers, one at a time, in order.
        for i in 0..self.slots.len() {
            if !self.slots[i].init {
                continue;
            }
            if self.slots[i].succeeded() {
                continue;
            }
            if self.slots[i].running() {
                return;
            }
            if self.slots[i].exit_code().is_some() && policy == "Never" {
                self.finish_phase();
                return;
            }
            self.start_or_wait(i, now).await;
            return;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].init || self.slots[i].running() {
                continue;
            }
            let restart = match self.slots[i].exit_code() {
                None => true,
                Some(code) => policy == "Always" || (policy == "OnFailure" && code != 0),
            };
            if restart {
                self.start_or_wait(i, now).await;
            } else {
                self.slots[i].waiting = None;
            }
        }
        self.finish_phase();
    }

    /// A finished pod stays finished (its phase never goes back), as kubelet guarantees.
    fn finish_phase(&mut self) {
        let phase = status::phase(&self.pod, &self.slots);
        if phase == "Succeeded" || phase == "Failed" {
            self.terminal = Some(phase);
        }
    }

    async fn start_or_wait(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        if slot.current.as_ref().is_some_and(|r| r.exited.is_some()) && !slot.restart_scheduled {
            slot.schedule_restart(now);
            slot.restart_scheduled = true;
        }
        if slot.backing_off(now) {
            // A container that failed to start (not one that ran and crashed) keeps its reason
            // while it waits; a failed pull waits as ImagePullBackOff, as kubelet's.
            match slot.waiting.clone() {
                Some((reason, last)) if reason == "ErrImagePull" => {
                    let name = slot.name.clone();
                    let image = self.spec_of(&self.slots[i]).and_then(|c| c.image).unwrap_or_default();
                    let note = format!("Back-off pulling image \"{image}\"");
                    self.slots[i].waiting = Some(("ImagePullBackOff".into(), format!("{note}: ErrImagePull: {last}")));
                    self.event(Some(&name), false, "BackOff", &note).await;
                    self.event(Some(&name), true, "Failed", "Error: ImagePullBackOff").await;
                    return;
                }
                Some((reason, _)) if START_FAILURES.contains(&reason.as_str()) => return,
                _ => {}
            }
            let message = format!(
                "back-off {}s restarting failed container={} pod={}_{}({})",
                slot.delay.as_secs(),
                slot.name,
                fields::name(&self.pod),
                fields::namespace(&self.pod),
                self.uid
            );
            let fresh = slot.waiting.as_ref().is_none_or(|(r, _)| r != "CrashLoopBackOff");
            slot.waiting = Some(("CrashLoopBackOff".into(), message.clone()));
            if fresh {
                let name = slot.name.clone();
                self.event(Some(&name), true, "BackOff", "Back-off restarting failed container").await;
            }
            return;
        }
        let Some(spec) = self.spec_of(&self.slots[i]) else { return };
        match self.start(i, &spec).await {
            Ok(()) => {}
            Err((reason, message)) => {
                let slot = &mut self.slots[i];
                slot.waiting = Some((reason.clone(), message.clone()));
                if slot.backoff.is_zero() {
                    slot.backoff = super::slot::BACKOFF_START;
                }
                slot.not_before = Some(Instant::now() + slot.backoff);
                slot.delay = slot.backoff;
                slot.backoff = (slot.backoff * 2).min(super::slot::BACKOFF_MAX);
                let name = slot.name.clone();
                let note = if reason == "ErrImagePull" {
                    "Error: ErrImagePull".to_string()
                } else {
                    format!("Error: {message}")
                };
                self.event(Some(&name), true, "Failed", &note).await;
            }
        }
    }

    /// Runtime, sandbox, volumes and pod files, once. Errors carry the event reason upstream
    /// uses (FailedCreatePodSandBox, FailedMount).
    async fn setup(&mut self) -> Result<(), (&'static str, String)> {
        let sandbox_err = |e: String| ("FailedCreatePodSandBox", e);
        std::fs::create_dir_all(&self.dir).map_err(|e| sandbox_err(format!("{}: {e}", self.dir.display())))?;
        let identity =
            json!({"namespace": fields::namespace(&self.pod), "name": fields::name(&self.pod), "uid": self.uid});
        state::write_json(&self.dir, "pod.json", &identity).map_err(|e| sandbox_err(e.to_string()))?;
        if !self.runtime_resolved {
            self.runtime = super::runtime_class::runtime_for(
                &self.shared.client,
                &self.shared.runtime,
                &self.shared.config.dir,
                &self.pod,
            )
            .await
            .map_err(sandbox_err)?;
            self.runtime_resolved = true;
        }
        if !self.sandbox_ready {
            if !self.sandbox.exists() {
                self.sandbox
                    .create(&self.shared.config.self_exe, &files::hostname(&self.pod))
                    .await
                    .map_err(sandbox_err)?;
            }
            self.sandbox_ready = true;
        }
        if self.files.is_none() {
            let ip = self.pod_ip();
            self.files = Some(files::write(&self.pod, &self.dir, ip.as_deref()).map_err(sandbox_err)?);
        }
        if self.volumes.is_none() {
            let mut sources = Sources::new(self.shared.client.clone(), fields::namespace(&self.pod));
            self.volumes =
                Some(volumes::prepare(&self.pod, &self.dir, &mut sources).await.map_err(|e| ("FailedMount", e))?);
        }
        Ok(())
    }

    fn pod_ip(&self) -> Option<String> {
        self.sandbox.host_network.then(|| self.shared.config.node_ip.to_string())
    }

    /// Start a new run of container `i`; errors are (reason, message) for its waiting state.
    async fn start(&mut self, i: usize, c: &Container) -> Result<(), (String, String)> {
        let config_err = |m: String| ("CreateContainerConfigError".to_string(), m);
        let image_ref = c.image.clone().unwrap_or_default();
        let image = self.image(c).await?;
        let attempt = self.slots[i].next_attempt();
        let name = c.name.clone();
        let dir = self.dir.join("containers").join(&name).join(attempt.to_string());
        let id = run::container_id(&self.uid, &name, attempt);
        let log = crate::logs::container_file(&self.log_dir, &name, attempt);
        std::fs::create_dir_all(&dir).map_err(|e| config_err(format!("{}: {e}", dir.display())))?;
        state::write_json(&dir, run::RUN_IMAGE, &RunImage { image: image_ref.clone(), image_id: image.id.clone() })
            .map_err(|e| config_err(e.to_string()))?;
        let termination_log = dir.join("termination-log");
        std::fs::write(&termination_log, b"").map_err(|e| config_err(e.to_string()))?;

        let mut sources = Sources::new(self.shared.client.clone(), fields::namespace(&self.pod));
        let env = env::build(&self.pod, c, &image.config.env, &mut sources).await.map_err(config_err)?;
        let rootfs = rootfs::mount(&dir, &image.layers).map_err(|m| ("CreateContainerError".to_string(), m))?;
        let cgroup = format!("{}/{id}", cgroups::pod_cgroup(&self.uid));
        let volumes = self.volumes.clone().unwrap_or_default();
        let files = self.files.as_ref().expect("set up before containers start");
        let inputs = container::Inputs {
            image: ImageDefaults {
                entrypoint: &image.config.entrypoint,
                cmd: &image.config.cmd,
                working_dir: &image.config.working_dir,
                user: &image.config.user,
            },
            rootfs: &rootfs,
            env,
            volumes: &volumes,
            files,
            sandbox: &self.sandbox,
            cgroup: cgroup.clone(),
            termination_log,
        };
        let built = container::build(&self.pod, c, inputs);
        let spec = match built {
            Ok(s) => s,
            Err(m) => {
                let _ = rootfs::remove(&dir);
                return Err(config_err(m));
            }
        };
        // A run that failed before starting leaves nothing: its number is used again.
        let io = ContainerIo { log: &log, cgroup: &cgroup, stdin: c.stdin == Some(true), tty: c.tty == Some(true) };
        let started = match self.runtime.start(&dir, &id, &spec.to_json(), &io).await {
            Ok(s) => s,
            Err(m) => {
                let _ = self.runtime.delete(&id).await;
                let _ = rootfs::remove(&dir);
                return Err(("CreateContainerError".into(), m));
            }
        };
        self.event(Some(&name), false, "Created", &format!("Created container: {name}")).await;
        self.event(Some(&name), false, "Started", &format!("Started container {name}")).await;
        let (running, _) = watch::channel(true);
        let new = Run {
            attempt,
            id: id.clone(),
            dir,
            log,
            image: image_ref,
            image_id: image.id.clone(),
            started,
            exited: None,
            running,
        };
        self.watch_exit(&name, &new);
        let slot = &mut self.slots[i];
        if let Some(old) = slot.previous.take() {
            let _ = self.runtime.delete(&old.id).await;
            let _ = rootfs::remove(&old.dir);
            let _ = std::fs::remove_file(&old.log);
        }
        slot.previous = slot.current.replace(new);
        slot.waiting = None;
        slot.restart_scheduled = false;
        slot.not_before = None;
        if let Some(prev) = &slot.previous {
            // The previous run's container is gone; its log and state stay for `--previous`.
            let _ = self.runtime.delete(&prev.id).await;
            let _ = rootfs::unmount(&prev.dir);
        }
        self.start_probes(&name);
        self.post_start(c, &id).await;
        self.publish_view();
        Ok(())
    }

    /// Run the postStart hook; a failing hook kills the container (it is then restarted as its
    /// policy says), as upstream.
    async fn post_start(&self, c: &Container, id: &str) {
        let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else { return };
        let action = match Action::of(h.exec.as_ref(), h.http_get.as_ref(), h.tcp_socket.as_ref(), c) {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                self.event(Some(&c.name), true, "FailedPostStartHook", &e).await;
                return;
            }
        };
        let target = Target { runtime: &self.runtime, container_id: id, netns: self.sandbox.namespace("net") };
        if let Err(why) = actions::run(&action, &target, Duration::from_secs(30)).await {
            self.event(Some(&c.name), true, "FailedPostStartHook", &format!("PostStartHook failed: {why}")).await;
            let _ = self.runtime.kill(id, "KILL").await;
        }
    }

    /// The container's image, honouring imagePullPolicy as kubelet: taken from the store when
    /// present (unless Always), else pulled from its registry with the pod's pull secrets.
    /// Errors are (reason, message) for the waiting state; the slot's back-off spaces retries.
    async fn image(&mut self, c: &Container) -> Result<crate::images::Image, (String, String)> {
        use super::pull_secrets;
        let reference = c.image.clone().unwrap_or_default();
        let found =
            self.shared.images.resolve(&reference).map_err(|e| ("InvalidImageName".to_string(), e.to_string()))?;
        let policy = c.image_pull_policy.clone().unwrap_or_else(|| "IfNotPresent".into());
        match found {
            Some(img) if policy != "Always" => {
                let note = format!("Container image \"{reference}\" already present on machine");
                self.event(Some(&c.name), false, "Pulled", &note).await;
                return Ok(img);
            }
            None if policy == "Never" => {
                let message = format!("Container image \"{reference}\" is not present with pull policy of Never");
                self.event(Some(&c.name), true, "ErrImageNeverPull", &message).await;
                return Err(("ErrImageNeverPull".into(), message));
            }
            _ => {}
        }
        let started = std::time::Instant::now();
        let (keyring, unreadable) = pull_secrets::keyring(&self.shared.client, &self.pod).await;
        if !unreadable.is_empty() {
            let note = format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                unreadable.join(", ")
            );
            self.event(None, true, "FailedToRetrieveImagePullSecret", &note).await;
        }
        self.event(Some(&c.name), false, "Pulling", &format!("Pulling image \"{reference}\"")).await;
        let options =
            crate::images::PullOptions { insecure_registries: self.shared.config.insecure_registries.clone(), keyring };
        match self.shared.images.pull(&reference, &options, &|_| {}).await {
            Ok(pulled) => {
                let total = started.elapsed();
                let note = pull_secrets::pulled_message(
                    &reference,
                    total.saturating_sub(pulled.waited),
                    total,
                    pulled.image.size,
                );
                self.event(Some(&c.name), false, "Pulled", &note).await;
                Ok(pulled.image)
            }
            Err(e) => {
                let full = crate::images::normalize(&reference).unwrap_or_else(|_| reference.clone());
                let message = format!("failed to pull and unpack image \"{full}\": {e}");
                self.event(Some(&c.name), true, "Failed", &format!("Failed to pull image \"{reference}\": {message}"))
                    .await;
                Err(("ErrImagePull".into(), message))
            }
        }
    }

    fn publish_view(&self) {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        view.containers.clear();
        view.runtime = Some(self.runtime.clone());
        for s in &self.slots {
            let spec = self.spec_of(s);
            view.containers.insert(
                s.name.clone(),
                ContainerView {
                    dir: s.current.as_ref().map(|r| r.dir.clone()),
                    stdin: spec.as_ref().is_some_and(|c| c.stdin == Some(true)),
                    tty: spec.as_ref().is_some_and(|c| c.tty == Some(true)),
                    id: s.current.as_ref().map(|r| r.id.clone()),
                    log: s.current.as_ref().map(|r| (r.log.clone(), r.running.subscribe())),
                    previous_log: s.previous.as_ref().map(|r| r.log.clone()),
                    waiting: s.waiting.as_ref().map(|(r, _)| r.clone()),
                    running: s.running(),
                },
            );
        }
    }

    async fn report(&mut self) {
        let host_ip = self.shared.config.node_ip.to_string();
        let pod_ip = self.pod_ip();
        let body = status::build(&status::Inputs {
            pod: &self.pod,
            slots: &self.slots,
            sandbox_ready: self.sandbox_ready,
            host_ip: &host_ip,
            pod_ip: pod_ip.as_deref(),
            start_time: self.start_time,
            runtime: self.runtime.name(),
            terminal: self.terminal,
        });
        if self.reported.as_ref() == Some(&body) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), fields::namespace(&self.pod));
        match api
            .patch_status(fields::name(&self.pod), &PatchParams::default(), &Patch::Merge(json!({ "status": body })))
            .await
        {
            Ok(_) => self.reported = Some(body),
            Err(e) => {
                tracing::debug!("pod {}/{} status: {e}", fields::namespace(&self.pod), fields::name(&self.pod));
                self.retry_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// Stop every container (gracefully when the pod is being deleted), remove all local
    /// state, and confirm the deletion to the API server.
    async fn finish(mut self, graceful: bool) {
        let grace = if graceful {
            let secs = self
                .pod
                .metadata
                .deletion_grace_period_seconds
                .or_else(|| self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds));
            Duration::from_secs(secs.unwrap_or(30).max(0) as u64)
        } else {
            Duration::from_secs(2)
        };
        self.stop_all(grace).await;
        self.cleanup().await;
        if graceful {
            let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), fields::namespace(&self.pod));
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
                ..Default::default()
            };
            match api.delete(fields::name(&self.pod), &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(e) => tracing::warn!("confirming deletion of pod {}: {e}", fields::name(&self.pod)),
            }
        }
    }

    async fn stop_all(&mut self, grace: Duration) {
        let running: Vec<(String, String)> = self
            .slots
            .iter()
            .filter_map(|s| s.current.as_ref().filter(|r| r.exited.is_none()).map(|r| (s.name.clone(), r.id.clone())))
            .collect();
        if running.is_empty() {
            return;
        }
        let deadline = Instant::now() + grace;
        self.pre_stop(&running, deadline).await;
        for (name, id) in &running {
            self.event(Some(name), false, "Killing", &format!("Stopping container {name}")).await;
            let signal = self.stop_signal(name);
            if let Err(e) = self.runtime.kill(id, &signal).await {
                tracing::debug!("stopping {id}: {e}");
            }
        }
        self.wait_all_exited(deadline).await;
        for s in &self.slots {
            if let Some(r) = s.current.as_ref().filter(|r| r.exited.is_none()) {
                let _ = self.runtime.kill(&r.id, "KILL").await;
            }
        }
        self.wait_all_exited(Instant::now() + Duration::from_secs(10)).await;
    }

    /// Run the preStop hooks of the running containers at once, within the grace period.
    async fn pre_stop(&self, running: &[(String, String)], deadline: Instant) {
        let mut hooks = Vec::new();
        for (name, id) in running {
            let Some(c) = self.slots.iter().find(|s| &s.name == name).and_then(|s| self.spec_of(s)) else { continue };
            let Some(h) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else { continue };
            if let Some(sleep) = &h.sleep {
                let wait = Duration::from_secs(sleep.seconds.max(0) as u64);
                hooks.push(Box::pin(async move {
                    tokio::time::sleep(wait).await;
                    (name.clone(), Ok(String::new()))
                })
                    as std::pin::Pin<
                        Box<dyn std::future::Future<Output = (String, Result<String, String>)> + Send + '_>,
                    >);
                continue;
            }
            match Action::of(h.exec.as_ref(), h.http_get.as_ref(), h.tcp_socket.as_ref(), &c) {
                Ok(Some(action)) => {
                    let netns = self.sandbox.namespace("net");
                    let runtime = &self.runtime;
                    let timeout = deadline.saturating_duration_since(Instant::now());
                    hooks.push(Box::pin(async move {
                        let target = Target { runtime, container_id: id, netns };
                        (name.clone(), actions::run(&action, &target, timeout).await)
                    }));
                }
                Ok(None) => {}
                Err(e) => self.event(Some(name), true, "FailedPreStopHook", &e).await,
            }
        }
        let results = tokio::time::timeout_at(deadline, futures::future::join_all(hooks)).await.unwrap_or_default();
        for (name, result) in results {
            if let Err(why) = result {
                self.event(Some(&name), true, "FailedPreStopHook", &format!("PreStopHook failed: {why}")).await;
            }
        }
    }

    async fn wait_all_exited(&mut self, deadline: Instant) {
        while self.slots.iter().any(Slot::running) {
            tokio::select! {
                Some(note) = self.exits.recv() => self.exited(note),
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// The image's STOPSIGNAL for a container's current run, else TERM.
    fn stop_signal(&self, container: &str) -> String {
        let image = self
            .slots
            .iter()
            .find(|s| s.name == container)
            .and_then(|s| s.current.as_ref())
            .map(|r| r.image_id.clone());
        image
            .and_then(|id| self.shared.images.resolve(&id).ok().flatten())
            .and_then(|img| img.config.stop_signal.clone())
            .map(|s| s.trim_start_matches("SIG").to_string())
            .unwrap_or_else(|| "TERM".into())
    }

    async fn cleanup(&mut self) {
        for s in &mut self.slots {
            for r in s.current.take().into_iter().chain(s.previous.take()) {
                if let Err(e) = self.runtime.delete(&r.id).await {
                    tracing::warn!("removing container {}: {e}", r.id);
                }
                if let Err(e) = rootfs::remove(&r.dir) {
                    tracing::warn!("{e}");
                }
            }
        }
        volumes::teardown(&self.dir);
        if let Err(e) = self.sandbox.remove() {
            tracing::warn!("{e}");
        }
        cgroups::remove_pod(&self.uid);
        for d in [&self.dir, &self.log_dir] {
            if let Err(e) = std::fs::remove_dir_all(d)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("removing {}: {e}", d.display());
            }
        }
        self.view.lock().unwrap_or_else(|e| e.into_inner()).containers.clear();
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
