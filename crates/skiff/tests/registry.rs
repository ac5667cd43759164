//! Pulling images from a real registry (Debian's `docker-registry`, the CNCF distribution
//! registry) on a loopback port, the busybox test image pushed to it with skopeo: `skiff images
//! pull`, pods pulling as their imagePullPolicy says, and a registry with basic auth that only
//! an imagePullSecret opens. Needs root for the agent (CI is root), and the packages
//! docker-registry, skopeo and apache2-utils (see .ci/setup). Nothing leaves the machine.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use skiff_e2e::images::{ArchiveFormat, busybox_archive, busybox_image};
use skiff_e2e::{AGENT_NODE, Server, eventually, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(40);
const USER: &str = "puller";
const PASSWORD: &str = "s3cret-pw";

/// Whether this machine can run these tests: root and the registry tools. CI has both.
fn can_run() -> bool {
    if !skiff_e2e::root_or_skip("the registry tests") {
        return false;
    }
    let tools = ["docker-registry", "skopeo", "htpasswd"].iter().all(|t| which(t).is_some());
    if !tools {
        assert!(std::env::var("CI").is_err(), "CI has the registry tools: these tests must run there");
        eprintln!("SKIPPED: the registry tests need docker-registry, skopeo and htpasswd");
    }
    tools
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|f| f.is_file()))
        .unwrap_or(None)
        .or_else(|| ["/usr/bin", "/usr/sbin"].iter().map(|d| Path::new(d).join(tool)).find(|f| f.is_file()))
}

/// A temporary dir, removed when dropped (also when the test fails).
fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("scratch dir")
}

/// A registry on 127.0.0.1, killed when dropped (also when the test fails).
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start one, with htpasswd basic auth for USER/PASSWORD when `auth`.
    fn start(auth: bool) -> Registry {
        let dir = scratch("skiff-registry-");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if auth {
            let out = Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]).output().expect("run htpasswd");
            assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n", file.display()));
        }
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = registry.child.try_wait() {
                panic!("docker-registry exited with {status}:\n{}", registry.log());
            }
            assert!(Instant::now() < deadline, "docker-registry did not listen:\n{}", registry.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Push the busybox image as `name` (`repo:tag`) from an archive of `format`.
    fn push_busybox(&self, name: &str, format: ArchiveFormat) {
        let archive = self.dir.path().join(format!("busybox-{}.tar", name.replace([':', '/'], "-")));
        busybox_archive(&archive, &format!("{}/{name}", self.host()), format);
        let source = match format {
            ArchiveFormat::OciArchive => format!("oci-archive:{}", archive.display()),
            _ => format!("docker-archive:{}", archive.display()),
        };
        let mut skopeo = Command::new("skopeo");
        skopeo.args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]);
        if self.dir.path().join("htpasswd").exists() {
            skopeo.arg(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        let out = skopeo.arg(&source).arg(format!("docker://{}/{name}", self.host())).output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}\nregistry log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skiff(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run skiff")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().to_string()
}

#[test]
fn images_pull_stores_the_image_as_an_import_would() {
    if !can_run() {
        return;
    }
    let registry = Registry::start(false);
    registry.push_busybox("test/busybox:1", ArchiveFormat::DockerSave);
    let data = scratch("skiff-pull-");
    let d = data.path().to_str().unwrap();
    let image = format!("{}/test/busybox:1", registry.host());

    let out = skiff(&["images", "pull", "--data-dir", d, &image]);
    assert!(out.status.success(), "pull failed: {}\nregistry log:\n{}", text(&out.stderr), registry.log());
    assert_eq!(text(&out.stdout), image);

    let ls = skiff(&["images", "ls", "--data-dir", d]);
    let listing = text(&ls.stdout);
    let line = listing.lines().find(|l| l.starts_with(&format!("{}/test/busybox ", registry.host())));
    let line = line.unwrap_or_else(|| panic!("the pulled image is listed:\n{listing}"));
    let id = busybox_image("x").id();
    let short: String = id.trim_start_matches("sha256:").chars().take(13).collect();
    assert!(line.contains(" 1 ") && line.contains(&short), "tag 1 and the image id {short}: {line}");

    // The same image imported under another name shares the pulled layer's directory.
    let archive = data.path().join("busybox.tar");
    busybox_archive(&archive, "local/busybox:1", ArchiveFormat::DockerSave);
    let out = skiff(&["images", "import", "--data-dir", d, archive.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", text(&out.stderr));
    let layers = std::fs::read_dir(data.path().join("agent/store/layers")).unwrap().count();
    assert_eq!(layers, 1, "one layer directory for the pulled and the imported image");
    let ids = text(&skiff(&["images", "ls", "-q", "--data-dir", d]).stdout);
    assert_eq!(ids, id, "one image: pulled and imported are the same");

    // A second pull finds everything there and still succeeds.
    let out = skiff(&["images", "pull", "--data-dir", d, &image]);
    assert!(out.status.success(), "second pull failed: {}", text(&out.stderr));

    // Pulls of one image at once into an empty store: both succeed, with one copy.
    let fresh = scratch("skiff-pull-");
    let f = fresh.path().to_str().unwrap();
    let children: Vec<Child> = (0..3)
        .map(|_| {
            let mut c = Command::new(BIN);
            c.args(["images", "pull", "--data-dir", f, &image]).stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().expect("run skiff")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for skiff");
        assert!(out.status.success(), "concurrent pull failed: {}", text(&out.stderr));
    }
    assert_eq!(std::fs::read_dir(fresh.path().join("agent/store/layers")).unwrap().count(), 1);
    assert_eq!(text(&skiff(&["images", "ls", "-q", "--data-dir", f]).stdout), id);

    // A tag the registry lacks, and a port nobody listens on: one line naming the problem.
    let out = skiff(&["images", "pull", "--data-dir", d, &format!("{}/test/busybox:2", registry.host())]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.ends_with("test/busybox:2: not found") && err.lines().count() == 1, "{err}");
    let out = skiff(&["images", "pull", "--data-dir", d, &format!("127.0.0.1:{}/x:1", free_port())]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("cannot connect") && err.lines().count() == 1, "{err}");
}

fn pod(name: &str, image: &str, policy: &str, secrets: &[&str]) -> Pod {
    let secrets: Vec<_> = secrets.iter().map(|s| json!({"name": s})).collect();
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "nodeName": AGENT_NODE,
            "terminationGracePeriodSeconds": 1,
            "imagePullSecrets": secrets,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": policy,
                            "command": ["sh", "-c", "sleep 3600"]}],
        }
    }))
    .unwrap()
}

fn waiting(p: &Pod) -> Option<(String, String)> {
    let s = p.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == "main")?;
    let w = s.state.as_ref()?.waiting.as_ref()?;
    Some((w.reason.clone().unwrap_or_default(), w.message.clone().unwrap_or_default()))
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

async fn wait_pod(server: &Server, pods: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    let last = std::sync::Mutex::new(None);
    eventually(
        what,
        WAIT,
        || format!("last status: {:?}\n{}", last.lock().unwrap().as_ref().map(|p: &Pod| &p.status), server.log()),
        || async {
            let p = pods.get_opt(name).await.ok().flatten()?;
            let ok = check(&p);
            *last.lock().unwrap() = Some(p.clone());
            ok.then_some(p)
        },
    )
    .await
}

/// The events of pod `name`: (reason, message).
async fn events_of(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_pull_their_images_as_their_pull_policy_says() {
    if !can_run() {
        return;
    }
    let registry = Registry::start(false);
    registry.push_busybox("test/busybox:1", ArchiveFormat::DockerSave);
    let server = Server::start_with_agent(Path::new(BIN), &[]);
    let client = server.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let image = format!("{}/test/busybox:1", registry.host());

    pods.create(&PostParams::default(), &pod("first", &image, "IfNotPresent", &[])).await.unwrap();
    wait_pod(&server, &pods, "first", "the first pod running on a pulled image", running).await;
    let events = events_of(&client, "first").await;
    assert!(events.contains(&("Pulling".into(), format!("Pulling image \"{image}\""))), "{events:?}");
    let pulled = events.iter().find(|(r, _)| r == "Pulled").unwrap_or_else(|| panic!("a Pulled event: {events:?}"));
    let prefix = format!("Successfully pulled image \"{image}\" in ");
    assert!(pulled.1.starts_with(&prefix) && pulled.1.contains(" including waiting). Image size: "), "{pulled:?}");

    // IfNotPresent does not pull what is there; Always pulls again and runs.
    pods.create(&PostParams::default(), &pod("second", &image, "IfNotPresent", &[])).await.unwrap();
    wait_pod(&server, &pods, "second", "the second pod running", running).await;
    let events = events_of(&client, "second").await;
    assert!(
        events.contains(&("Pulled".into(), format!("Container image \"{image}\" already present on machine"))),
        "{events:?}"
    );
    assert!(!events.iter().any(|(r, _)| r == "Pulling"), "{events:?}");
    pods.create(&PostParams::default(), &pod("always", &image, "Always", &[])).await.unwrap();
    wait_pod(&server, &pods, "always", "the Always pod running", running).await;
    let events = events_of(&client, "always").await;
    assert!(events.iter().any(|(r, _)| r == "Pulling"), "{events:?}");

    // A tag the registry lacks: ErrImagePull naming it, then ImagePullBackOff.
    let missing = format!("{}/test/busybox:2", registry.host());
    pods.create(&PostParams::default(), &pod("missing", &missing, "IfNotPresent", &[])).await.unwrap();
    let p = wait_pod(&server, &pods, "missing", "ErrImagePull", |p| {
        waiting(p).is_some_and(|(r, _)| r == "ErrImagePull" || r == "ImagePullBackOff")
    })
    .await;
    let events = events_of(&client, "missing").await;
    let failed = events.iter().find(|(r, m)| r == "Failed" && m.starts_with("Failed to pull image"));
    let failed = failed.unwrap_or_else(|| panic!("a Failed event: {events:?} (pod {:?})", waiting(&p)));
    assert!(
        failed.1.starts_with(&format!("Failed to pull image \"{missing}\": "))
            && failed.1.ends_with(&format!("{missing}: not found")),
        "{failed:?}"
    );
    let p = wait_pod(&server, &pods, "missing", "ImagePullBackOff", |p| {
        waiting(p).is_some_and(|(r, _)| r == "ImagePullBackOff")
    })
    .await;
    let (_, message) = waiting(&p).unwrap();
    assert!(message.starts_with(&format!("Back-off pulling image \"{missing}\"")), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_registry_opens_only_with_the_pull_secret() {
    if !can_run() {
        return;
    }
    let registry = Registry::start(true);
    registry.push_busybox("private/busybox:1", ArchiveFormat::OciArchive);
    let image = format!("{}/private/busybox:1", registry.host());

    let data = scratch("skiff-pull-");
    let out = skiff(&["images", "pull", "--data-dir", data.path().to_str().unwrap(), &image]);
    assert!(!out.status.success(), "an anonymous pull must be refused");
    let err = text(&out.stderr);
    assert!(err.contains("401 Unauthorized") && err.lines().count() == 1, "{err}");

    let server = Server::start_with_agent(Path::new(BIN), &[]);
    let client = server.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("anonymous", &image, "IfNotPresent", &[])).await.unwrap();
    eventually(
        "a Failed event saying 401 for the pod without credentials",
        WAIT,
        || server.log(),
        || async {
            let events = events_of(&client, "anonymous").await;
            events.iter().any(|(r, m)| r == "Failed" && m.contains("401 Unauthorized")).then_some(())
        },
    )
    .await;

    let config = json!({"auths": {registry.host(): {"username": USER, "password": PASSWORD}}});
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "registry-creds"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config.to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default").create(&PostParams::default(), &secret).await.unwrap();
    pods.create(&PostParams::default(), &pod("private", &image, "IfNotPresent", &["registry-creds"])).await.unwrap();
    wait_pod(&server, &pods, "private", "the pod with the pull secret running", running).await;
}
