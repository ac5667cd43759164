//! The control plane with real kubectl: every command of the acceptance list, with kubectl 1.32
//! and 1.33, with default (strict) validation and no warnings.

use std::io::Read;
use std::time::Duration;

use skiff_e2e::{Kubectl, Server};

const WEB_APP: &str = include_str!("fixtures/web-app.yaml");
const STORAGE: &str = include_str!("fixtures/storage.yaml");

fn server() -> Server {
    Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_skiff")))
}

fn acceptance(kubectl: &Kubectl) {
    let s = server();
    let k = s.kubectl(kubectl);

    let ns = k.run(&["get", "ns"]).ok();
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.stdout.contains(name), "{}", ns.stdout);
    }
    assert!(ns.stdout.contains("Active"), "namespaces show their phase:\n{}", ns.stdout);
    k.run(&["create", "ns", "demo"]).ok();
    k.run(&["get", "ns", "demo"]).ok();

    // Apply the seed's manifests, then read them back every way kubectl can.
    k.run_stdin(&["apply", "-n", "demo", "-f", "-"], WEB_APP).ok();
    k.run_stdin(&["apply", "-n", "demo", "-f", "-"], STORAGE).ok();
    let wide = k.run(&["get", "deploy", "-n", "demo", "-o", "wide"]).ok();
    assert!(
        wide.stdout.contains("web-app") && wide.stdout.contains("nginx:1.24") && wide.stdout.contains("app=web-app"),
        "{}",
        wide.stdout
    );
    let yaml = k.run(&["get", "deploy", "web-app", "-n", "demo", "-o", "yaml"]).ok();
    assert!(
        yaml.stdout.contains("maxSurge: 1") && yaml.stdout.contains("progressDeadlineSeconds: 600"),
        "{}",
        yaml.stdout
    );
    let jp = k
        .run(&[
            "get",
            "deploy",
            "web-app",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas}/{.spec.template.spec.containers[0].resources.limits.memory}",
        ])
        .ok();
    assert_eq!(jp.stdout, "3/256Mi");
    let pvc = k.run(&["get", "pvc", "database-pvc", "-n", "demo"]).ok();
    assert!(pvc.stdout.contains("fast-storage") && pvc.stdout.contains("Pending"), "{}", pvc.stdout);
    k.run(&["get", "storageclass", "fast-storage"]).ok();

    // Edit the file and apply again: a three-way merge changes the image and replicas and
    // removes the readiness probe the new file no longer has.
    let edited = WEB_APP.replace("replicas: 3", "replicas: 4").replace("nginx:1.24", "nginx:1.25");
    let start = edited.find("        readinessProbe:").expect("fixture has a readiness probe");
    let edited = edited[..start].to_string();
    k.run_stdin(&["apply", "-n", "demo", "-f", "-"], &edited).ok();
    let after = k.run(&["get", "deploy", "web-app", "-n", "demo", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].readinessProbe}"]).ok();
    assert_eq!(after.stdout.trim(), "4 nginx:1.25", "three-way merge result");

    // Server-side apply takes over the fields it sets.
    k.run_stdin(&["apply", "--server-side", "--force-conflicts", "-n", "demo", "-f", "-"], &edited).ok();
    let managers = k
        .run(&[
            "get",
            "deploy",
            "web-app",
            "-n",
            "demo",
            "-o",
            "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}",
        ])
        .ok();
    assert!(managers.stdout.contains("kubectl:Apply"), "{}", managers.stdout);

    // Patches of each type.
    k.run(&[
        "patch",
        "deploy",
        "web-app",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web-app","image":"nginx:1.26"}]}}}}"#,
    ])
    .ok();
    k.run(&["patch", "deploy", "web-app", "-n", "demo", "--type", "merge", "-p", r#"{"spec":{"minReadySeconds":5}}"#])
        .ok();
    k.run(&[
        "patch",
        "deploy",
        "web-app",
        "-n",
        "demo",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#,
    ])
    .ok();
    let patched = k.run(&["get", "deploy", "web-app", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.minReadySeconds} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].ports[0].containerPort}"]).ok();
    assert_eq!(patched.stdout, "nginx:1.26 5 3 80", "strategic patch merged the container by name");

    k.run(&["label", "deploy", "web-app", "-n", "demo", "tier=frontend"]).ok();
    k.run(&["annotate", "deploy", "web-app", "-n", "demo", "owner=team-a"]).ok();
    k.run(&["scale", "deploy", "web-app", "-n", "demo", "--replicas=5"]).ok();
    let meta = k
        .run(&[
            "get",
            "deploy",
            "web-app",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner} {.spec.replicas}",
        ])
        .ok();
    assert_eq!(meta.stdout, "frontend team-a 5");

    k.run(&["create", "configmap", "settings", "-n", "demo", "--from-literal=mode=fast", "--from-literal=level=3"])
        .ok();
    k.run(&["create", "secret", "generic", "creds", "-n", "demo", "--from-literal=password=s3cret"]).ok();
    let cm = k.run(&["get", "cm", "settings", "-n", "demo", "-o", "jsonpath={.data.mode}"]).ok();
    assert_eq!(cm.stdout, "fast");
    let secret = k.run(&["get", "secret", "creds", "-n", "demo", "-o", "jsonpath={.data.password}"]).ok();
    assert_eq!(secret.stdout, "czNjcmV0", "secret data is base64");

    // `get -w` prints the change that happens after it started.
    let mut watch = k.spawn(&["get", "cm", "-n", "demo", "-w"]);
    std::thread::sleep(Duration::from_millis(1500));
    k.run(&["label", "cm", "settings", "-n", "demo", "changed=yes"]).ok();
    k.run(&["create", "configmap", "later", "-n", "demo", "--from-literal=a=b"]).ok();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = watch.kill();
    let mut printed = String::new();
    watch.stdout.take().expect("stdout").read_to_string(&mut printed).expect("read watch output");
    let _ = watch.wait();
    assert!(printed.contains("settings") && printed.contains("later"), "get -w output:\n{printed}");

    let explain = k.run(&["explain", "deployment.spec.strategy"]).ok();
    assert!(
        explain.stdout.contains("rollingUpdate") && explain.stdout.contains("DeploymentStrategy"),
        "{}",
        explain.stdout
    );

    let resources = k.run(&["api-resources"]).ok();
    for line in ["deployments", "deploy", "apps/v1", "configmaps", "customresourcedefinitions"] {
        assert!(resources.stdout.contains(line), "api-resources lacks {line}:\n{}", resources.stdout);
    }
    assert_eq!(k.run(&["get", "--raw", "/readyz"]).ok().stdout, "ok");

    // Deletes: by name, by label, and everything of a kind.
    k.run(&["delete", "secret", "creds", "-n", "demo"]).ok();
    k.run(&["label", "cm", "later", "-n", "demo", "group=tmp"]).ok();
    k.run(&["delete", "cm", "-n", "demo", "-l", "group=tmp"]).ok();
    k.run(&["delete", "deploy,pvc", "--all", "-n", "demo"]).ok();
    let left = k.run(&["get", "deploy,pvc,secret", "-n", "demo", "-o", "name"]).ok();
    assert_eq!(left.stdout.trim(), "", "everything deleted");
    let cms = k.run(&["get", "cm", "-n", "demo", "-o", "name"]).ok();
    assert_eq!(cms.stdout.trim(), "configmap/kube-root-ca.crt\nconfigmap/settings");

    // Errors come back as upstream words them.
    let missing = k.run(&["get", "deploy", "nope", "-n", "demo"]).fails();
    assert!(missing.stderr.contains(r#"deployments.apps "nope" not found"#), "{}", missing.stderr);
    let dup = k.run(&["create", "ns", "demo"]).fails();
    assert!(dup.stderr.contains(r#"namespaces "demo" already exists"#), "{}", dup.stderr);
}

#[test]
fn kubectl_1_32_does_the_acceptance_list() {
    for k in Kubectl::required(&["1.32"]) {
        acceptance(&k);
    }
}

#[test]
fn kubectl_1_33_does_the_acceptance_list() {
    for k in Kubectl::required(&["1.33"]) {
        acceptance(&k);
    }
}
