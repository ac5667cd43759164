//! A real `skiff server` for tests and benchmarks.
//!
//! [`Server::start`] runs the binary in a temporary data dir on a free loopback port and waits
//! until it serves; dropping the [`Server`] kills it and removes the dir, so nothing is left
//! behind even when a test panics. [`Kubectl`] runs a given kubectl version against it with its
//! own cache dir; [`Server::client`] gives a kube-rs client.

pub mod images;
mod sim;
mod wait;

pub use sim::Sim;
pub use wait::eventually;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

pub struct Server {
    bin: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub extra_args: Vec<String>,
    /// Runs its node agent (as root): containers are cleaned up with `skiff killall` on drop.
    pub agent: Option<AgentPorts>,
    /// From spawning the process to its first accepted connection after it logged readiness.
    pub ready_after: Duration,
}

impl Server {
    /// Start `skiff server` (the binary at `bin`) and wait until it answers.
    pub fn start(bin: &Path) -> Server {
        Self::start_with(bin, &[])
    }

    pub fn start_with(bin: &Path, extra_args: &[&str]) -> Server {
        Self::start_inner(bin, extra_args, false)
    }

    /// Start a server with its node agent (needs root): node `AGENT_NODE` at 127.0.0.1, the
    /// agent's HTTPS server on a free port, container logs in the test's dir.
    pub fn start_with_agent(bin: &Path, extra_args: &[&str]) -> Server {
        Self::start_inner(bin, extra_args, true)
    }

    fn start_inner(bin: &Path, extra_args: &[&str], agent: bool) -> Server {
        let dir = tempfile::Builder::new().prefix("skiff-test-").tempdir().expect("temp dir");
        let mut s = Server {
            bin: bin.to_path_buf(),
            child: None,
            dir,
            port: free_port(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            agent: agent.then(|| AgentPorts { kubelet: free_port() }),
            ready_after: Duration::ZERO,
        };
        s.spawn();
        s
    }

    /// Where the agent writes container logs.
    pub fn pod_log_dir(&self) -> PathBuf {
        self.dir.path().join("pod-logs")
    }

    /// The skiff binary this server runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Spawn the process and wait until it serves. A fresh server whose port was taken in the
    /// meantime (another test picked it too) retries on a new port.
    pub fn spawn(&mut self) {
        for _ in 0..5 {
            match self.try_spawn() {
                Ok(()) => return,
                Err(log) if log.contains("Address already in use") => {
                    self.port = free_port();
                }
                Err(log) => panic!("skiff server exited before it was ready:\n{log}"),
            }
        }
        panic!("skiff server found no free port:\n{}", self.log());
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.log_path())
            .expect("log file");
        let started = Instant::now();
        let child = Command::new(&self.bin)
            .arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--write-kubeconfig")
            .arg(self.kubeconfig())
            .arg("--https-listen-port")
            .arg(self.port.to_string())
            .arg("--bind-address")
            .arg("127.0.0.1")
            .args(self.agent_args())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn skiff server");
        self.child = Some(child);
        self.wait_ready()?;
        self.ready_after = started.elapsed();
        Ok(())
    }

    fn agent_args(&self) -> Vec<String> {
        match &self.agent {
            None => vec!["--disable-agent".into()],
            Some(a) => vec![
                "--node-name".into(),
                AGENT_NODE.into(),
                "--node-ip".into(),
                "127.0.0.1".into(),
                "--kubelet-port".into(),
                a.kubelet.to_string(),
                "--pod-log-dir".into(),
                self.pod_log_dir().display().to_string(),
            ],
        }
    }

    /// Wait for the readiness line; `Err(log)` if the process exited first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()).is_some() {
                self.child = None;
                return Err(self.log());
            }
            if self.log().contains("ready in") && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "skiff server not ready after {START_TIMEOUT:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGKILL the server (no chance to clean up, like a crash or power cut of the process).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop with SIGTERM and wait for the process to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A kube-rs client with the admin kubeconfig the server wrote. Its automatic retries are
    /// off: tests want to see the server's answers (a 429 is retried for minutes otherwise).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig()).expect("read kubeconfig");
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube config");
        config.default_retry = false;
        kube::Client::try_from(config).expect("kube client")
    }

    pub fn kubectl(&self, kubectl: &Kubectl) -> KubectlRun<'_> {
        KubectlRun { server: self, kubectl: kubectl.clone() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if self.agent.is_some() {
            // Containers outlive their agent by design; the test's must not outlive the test.
            let _ = Command::new(&self.bin).arg("killall").arg("--data-dir").arg(self.data_dir()).status();
        }
    }
}

/// The Deployment of the seed document (chapter 9's example manifest), as written there.
pub const SEED_WEB_APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-app
  labels:
    app: web-app
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web-app
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: web-app
    spec:
      containers:
      - name: web-app
        image: nginx:1.24
        ports:
        - containerPort: 80
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            cpu: 500m
            memory: 256Mi
        livenessProbe:
          httpGet:
            path: /health
            port: 80
          initialDelaySeconds: 30
          periodSeconds: 10
        readinessProbe:
          httpGet:
            path: /ready
            port: 80
          initialDelaySeconds: 5
          periodSeconds: 5
"#;

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// For tests that need root (the node agent): true as root; otherwise says loudly that `what`
/// is skipped and returns false, except under CI (which runs as root), where it fails.
pub fn root_or_skip(what: &str) -> bool {
    let root = is_root();
    if !root {
        assert!(std::env::var("CI").is_err(), "CI runs as root: {what} must not be skipped there");
        eprintln!("SKIPPED: {what} needs root");
    }
    root
}

/// The node name of a test server's own agent.
pub const AGENT_NODE: &str = "skiff-node";

/// Ports of a test server's agent.
#[derive(Debug, Clone)]
pub struct AgentPorts {
    pub kubelet: u16,
}

/// A kubectl binary of a known version.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub path: PathBuf,
    pub version: String,
}

impl Kubectl {
    /// The kubectl of a minor version (`"1.33"`) if installed: the Google Cloud SDK layout keeps
    /// one binary per version beside the default one.
    pub fn find(minor: &str) -> Option<Kubectl> {
        let candidates = [
            PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.{minor}")),
            PathBuf::from(format!("/usr/local/bin/kubectl.{minor}")),
            PathBuf::from(format!("/usr/local/bin/kubectl-{minor}")),
        ];
        candidates.into_iter().find(|p| p.exists()).map(|path| Kubectl { path, version: minor.to_string() })
    }

    /// The versions the tests must cover. On CI (`CI=true`) a missing one is a failure; on a
    /// developer machine it is skipped loudly.
    pub fn required(minors: &[&str]) -> Vec<Kubectl> {
        let mut found = Vec::new();
        for m in minors {
            match Kubectl::find(m) {
                Some(k) => found.push(k),
                None if std::env::var("CI").as_deref() == Ok("true") => {
                    panic!("kubectl {m} is required on CI but not installed")
                }
                None => {
                    eprintln!("SKIPPING kubectl {m}: not installed (set up /usr/lib/google-cloud-sdk/bin/kubectl.{m})")
                }
            }
        }
        found
    }
}

/// kubectl bound to a server.
pub struct KubectlRun<'a> {
    server: &'a Server,
    kubectl: Kubectl,
}

/// A finished kubectl command.
#[derive(Debug)]
pub struct Ran {
    pub args: Vec<String>,
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Panics unless the command succeeded without printing any warning.
    pub fn ok(self) -> Ran {
        assert_eq!(self.status, 0, "kubectl {:?} failed:\nstdout: {}\nstderr: {}", self.args, self.stdout, self.stderr);
        assert!(
            !self.stderr.to_lowercase().contains("warning"),
            "kubectl {:?} printed a warning:\n{}",
            self.args,
            self.stderr
        );
        self
    }

    /// Panics unless the command failed; returns it for checking the message.
    pub fn fails(self) -> Ran {
        assert_ne!(self.status, 0, "kubectl {:?} should have failed:\n{}", self.args, self.stdout);
        self
    }
}

impl KubectlRun<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.kubectl.path);
        let home = self.server.dir().join(format!("home-{}", self.kubectl.version));
        c.env("HOME", &home)
            .env("KUBECONFIG", self.server.kubeconfig())
            .arg("--cache-dir")
            .arg(home.join("cache"))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Run kubectl with `args`.
    pub fn run(&self, args: &[&str]) -> Ran {
        Self::finish(args, self.command(args).output().expect("run kubectl"))
    }

    /// Run kubectl with `args` and `stdin` as its input (`-f -`).
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Ran {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        Self::finish(args, child.wait_with_output().expect("kubectl output"))
    }

    /// Start kubectl without waiting (for `get -w`); the caller kills it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn kubectl")
    }

    fn finish(args: &[&str], out: Output) -> Ran {
        Ran {
            args: args.iter().map(|s| s.to_string()).collect(),
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
