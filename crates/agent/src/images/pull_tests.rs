//! Pulls against a small in-process registry on a loopback port that does what the test
//! registry of crates/skiff/tests/registry.rs does not: a Bearer token server (basic
//! credentials for a token), an image index per platform, and blobs behind a redirect.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use skiff_e2e::images::{Layer, TestImage, gzip, sha256};

use super::manifest::{OCI_INDEX, OCI_MANIFEST, host_platform};
use super::{Credential, ImageStore, Keyring, PullError, PullOptions};

const TOKEN: &str = "t0k3n";

/// What the fake registry serves, by request path.
struct Fake {
    port: u16,
    docs: HashMap<String, (String, Vec<u8>)>,
    /// Requests seen, in order (path and whether they carried the token).
    seen: Mutex<Vec<String>>,
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(Full::new(Bytes::from(body))).unwrap()
}

fn handle(fake: &Fake, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    fake.seen.lock().unwrap().push(path.clone());
    if path == "/token" {
        // base64("u:p")
        let query = req.uri().query().unwrap_or("");
        if auth != "Basic dTpw" || !query.contains("scope=repository:team/app:pull") || !query.contains("service=fake")
        {
            return reply(StatusCode::UNAUTHORIZED, &[], b"{}".to_vec());
        }
        return reply(StatusCode::OK, &[], json!({"token": TOKEN}).to_string().into_bytes());
    }
    if let Some(digest) = path.strip_prefix("/storage/") {
        let (_, body) = &fake.docs[&format!("/v2/team/app/blobs/{digest}")];
        return reply(StatusCode::OK, &[], body.clone());
    }
    if auth != format!("Bearer {TOKEN}") {
        let challenge = format!(
            r#"Bearer realm="http://127.0.0.1:{}/token",service="fake",scope="repository:team/app:pull""#,
            fake.port
        );
        return reply(StatusCode::UNAUTHORIZED, &[("www-authenticate", challenge)], b"{}".to_vec());
    }
    if let Some(digest) = path.strip_prefix("/v2/team/app/blobs/") {
        return reply(StatusCode::TEMPORARY_REDIRECT, &[("location", format!("/storage/{digest}"))], vec![]);
    }
    match fake.docs.get(&path) {
        Some((media, body)) => reply(StatusCode::OK, &[("content-type", media.clone())], body.clone()),
        None => reply(
            StatusCode::NOT_FOUND,
            &[],
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec(),
        ),
    }
}

/// Serve `image` as `team/app:1` (an index with this platform and another) and `team/app:2`
/// (an index with only windows), behind a token server.
async fn serve(image: &TestImage) -> Arc<Fake> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut docs = HashMap::new();
    let mut blob = |media: &str, bytes: Vec<u8>| {
        let d = sha256(&bytes);
        docs.insert(format!("/v2/team/app/blobs/{d}"), (media.to_string(), bytes.clone()));
        docs.insert(format!("/v2/team/app/manifests/{d}"), (media.to_string(), bytes.clone()));
        (d, bytes.len())
    };
    let config = blob("application/vnd.oci.image.config.v1+json", image.config_blob());
    let layers: Vec<_> =
        image.layers.iter().map(|l| blob("application/vnd.oci.image.layer.v1.tar+gzip", gzip(l))).collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    let manifest = blob(OCI_MANIFEST, manifest.to_string().into_bytes());
    let here = host_platform();
    let entry = |arch: &str, os: &str, digest: &str| json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.1, "platform": {"os": os, "architecture": arch}});
    let other = sha256(b"other platform");
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        entry("s390x", "linux", &other), entry(&here.architecture, "linux", &manifest.0)]});
    let windows = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry(&here.architecture, "windows", &other)]});
    let index = blob(OCI_INDEX, index.to_string().into_bytes());
    docs.insert(
        "/v2/team/app/manifests/1".into(),
        (OCI_INDEX.into(), docs[&format!("/v2/team/app/blobs/{}", index.0)].1.clone()),
    );
    docs.insert("/v2/team/app/manifests/2".into(), (OCI_INDEX.into(), windows.to_string().into_bytes()));
    let fake = Arc::new(Fake { port, docs, seen: Mutex::default() });
    let f = fake.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let f = f.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let r = handle(&f, &req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    fake
}

fn image() -> TestImage {
    TestImage::new(&["x"], vec![Layer::new().dir("etc", 0o755).file("etc/hello", 0o644, b"hi\n").build()])
}

fn options(port: u16, creds: bool) -> PullOptions {
    let mut keyring = Keyring::new();
    if creds {
        keyring.add(&format!("127.0.0.1:{port}"), Credential { username: "u".into(), password: "p".into() });
    }
    PullOptions { insecure_registries: vec![], keyring }
}

#[tokio::test]
async fn bearer_token_index_and_redirected_blobs_give_the_imported_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let image = image();
    let fake = serve(&image).await;
    let reference = format!("127.0.0.1:{}/team/app:1", fake.port);
    let pulled = store.pull(&reference, &options(fake.port, true), &|_| {}).await.unwrap();

    assert_eq!(pulled.image.id, image.id());
    assert_eq!(pulled.image.repo_tags, vec![reference.clone()]);
    let index_digest = sha256(&fake.docs["/v2/team/app/manifests/1"].1);
    assert_eq!(pulled.repo_digest, format!("127.0.0.1:{}/team/app@{index_digest}", fake.port));
    assert_eq!(pulled.image.repo_digests, vec![pulled.repo_digest.clone()]);
    assert!(pulled.image.layers[0].join("etc/hello").is_file());
    let seen = fake.seen.lock().unwrap().clone();
    assert!(seen.contains(&"/token".to_string()) && seen.iter().any(|p| p.starts_with("/storage/")), "{seen:?}");
    assert!(store.resolve(&pulled.repo_digest).unwrap().is_some(), "the image resolves by its digest");
}

#[tokio::test]
async fn refused_credentials_and_missing_platforms_and_tags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let fake = serve(&image()).await;
    let name = format!("127.0.0.1:{}/team/app", fake.port);

    let e = store.pull(&format!("{name}:1"), &options(fake.port, false), &|_| {}).await.unwrap_err();
    assert!(matches!(e, PullError::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("401 Unauthorized"), "{e}");

    let e = store.pull(&format!("{name}:2"), &options(fake.port, true), &|_| {}).await.unwrap_err();
    assert!(matches!(e, PullError::NoPlatform { .. }), "{e}");
    assert!(e.to_string().contains(&format!("no matching manifest for linux/{}", host_platform().architecture)), "{e}");

    let e = store.pull(&format!("{name}:3"), &options(fake.port, true), &|_| {}).await.unwrap_err();
    assert_eq!(e.to_string(), format!("{name}:3: not found"));
    assert!(store.list().unwrap().is_empty(), "nothing is stored by failed pulls");
}
