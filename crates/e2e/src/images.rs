//! Test images built at test time (no binaries in the repository): layers entry by entry, and
//! archives in the formats `skiff images import` reads, `docker save` (plain or gzip) and OCI
//! layout (`skopeo copy … oci-archive:`, layers gzip-compressed as skopeo writes them).
//! [`busybox_archive`] makes a small runnable image from the host's static busybox.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Where the Debian package busybox-static installs busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// Every entry's mtime, so that the same layer built twice has the same digest.
const MTIME: u64 = 1_700_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save`: `manifest.json`, `<hex>.json` configs, `<id>/layer.tar` layers.
    DockerSave,
    /// `docker save | gzip`.
    DockerSaveGzip,
    /// An OCI layout in a tar: `oci-layout`, `index.json`, `blobs/sha256/…`, gzip layers.
    OciArchive,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("a sha256 digest")
}

/// A layer tar, built entry by entry.
pub struct Layer {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer {
    pub fn new() -> Layer {
        Layer { tar: tar::Builder::new(Vec::new()) }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(size);
        h
    }

    pub fn dir(self, path: &str, mode: u32) -> Layer {
        self.dir_owned(path, mode, 0, 0)
    }

    pub fn dir_owned(mut self, path: &str, mode: u32, uid: u64, gid: u64) -> Layer {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        h.set_uid(uid);
        h.set_gid(gid);
        self.tar.append_data(&mut h, path, &[][..]).expect("dir entry");
        self
    }

    pub fn file(self, path: &str, mode: u32, data: &[u8]) -> Layer {
        self.file_owned(path, mode, 0, 0, data)
    }

    pub fn file_owned(mut self, path: &str, mode: u32, uid: u64, gid: u64, data: &[u8]) -> Layer {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.tar.append_data(&mut h, path, data).expect("file entry");
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.tar.append_link(&mut h, path, target).expect("symlink entry");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        self.tar.append_link(&mut h, path, target).expect("hard link entry");
        self
    }

    pub fn fifo(mut self, path: &str) -> Layer {
        let mut h = Self::header(tar::EntryType::Fifo, 0o600, 0);
        self.tar.append_data(&mut h, path, &[][..]).expect("fifo entry");
        self
    }

    pub fn char_device(mut self, path: &str, major: u32, minor: u32) -> Layer {
        let mut h = Self::header(tar::EntryType::Char, 0o666, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.tar.append_data(&mut h, path, &[][..]).expect("device entry");
        self
    }

    /// Remove `path` of the layers below (`dir/.wh.name`).
    pub fn whiteout(self, path: &str) -> Layer {
        let (dir, name) = path.rsplit_once('/').map(|(d, n)| (format!("{d}/"), n)).unwrap_or_default();
        let name = if name.is_empty() { path } else { name };
        self.file(&format!("{dir}.wh.{name}"), 0o644, b"")
    }

    /// Hide what the layers below have in `dir` (`dir/.wh..wh..opq`).
    pub fn opaque(self, dir: &str) -> Layer {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, b"")
    }

    /// An entry written as given, unchecked (`../x`, `/etc/x`): for hostile-layer tests.
    pub fn raw(mut self, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Layer {
        let mut h = Self::header(kind, 0o644, data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.tar.append(&h, data).expect("raw entry");
        self
    }

    /// The tar's bytes.
    pub fn build(self) -> Vec<u8> {
        self.tar.into_inner().expect("finish the layer tar")
    }
}

/// An image to write into an archive.
#[derive(Clone)]
pub struct TestImage {
    /// References as `docker save` writes RepoTags (`busybox:latest`, `localhost:5000/x:1`).
    pub tags: Vec<String>,
    /// Uncompressed layer tars, lowest first.
    pub layers: Vec<Vec<u8>>,
    /// The `config` part of the image config (Cmd, Env, …).
    pub config: Value,
}

impl TestImage {
    /// An image running `sh` with the usual PATH.
    pub fn new(tags: &[&str], layers: Vec<Vec<u8>>) -> TestImage {
        TestImage {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            layers,
            config: json!({
                "Cmd": ["sh"],
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            }),
        }
    }

    /// The config blob, with the layers' diff ids.
    pub fn config_blob(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self.layers.iter().map(|l| sha256(l)).collect();
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        }))
        .expect("config json")
    }

    /// `sha256:<config digest>`, the id the store gives it.
    pub fn id(&self) -> String {
        sha256(&self.config_blob())
    }
}

/// Write `images` as one archive at `dest`. Layers the images share are written once.
pub fn write_archive(dest: &Path, images: &[TestImage], format: ArchiveFormat) {
    let tar = match format {
        ArchiveFormat::DockerSave | ArchiveFormat::DockerSaveGzip => docker_save(images),
        ArchiveFormat::OciArchive => oci_archive(images),
    };
    let bytes = match format {
        ArchiveFormat::DockerSaveGzip => gzip(&tar),
        _ => tar,
    };
    fs::write(dest, bytes).expect("write the archive");
}

fn docker_save(images: &[TestImage]) -> Vec<u8> {
    let mut out = Archive::default();
    let mut manifest = Vec::new();
    for image in images {
        let config = image.config_blob();
        let config_name = format!("{}.json", hex(&sha256(&config)));
        out.add(&config_name, &config);
        let mut layers = Vec::new();
        for layer in &image.layers {
            let name = format!("{}/layer.tar", hex(&sha256(layer)));
            out.add(&name, layer);
            layers.push(name);
        }
        manifest.push(json!({"Config": config_name, "RepoTags": image.tags, "Layers": layers}));
    }
    out.add("manifest.json", &serde_json::to_vec(&manifest).expect("manifest json"));
    out.finish()
}

fn oci_archive(images: &[TestImage]) -> Vec<u8> {
    let mut out = Archive::default();
    out.add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut index = Vec::new();
    for image in images {
        let config = image.config_blob();
        let config_digest = sha256(&config);
        out.add(&format!("blobs/sha256/{}", hex(&config_digest)), &config);
        let mut layers = Vec::new();
        for layer in &image.layers {
            let blob = gzip(layer);
            let d = sha256(&blob);
            out.add(&format!("blobs/sha256/{}", hex(&d)), &blob);
            layers.push(
                json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": blob.len()}),
            );
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        }))
        .expect("manifest json");
        let md = sha256(&manifest);
        out.add(&format!("blobs/sha256/{}", hex(&md)), &manifest);
        let names: Vec<Option<&String>> =
            if image.tags.is_empty() { vec![None] } else { image.tags.iter().map(Some).collect() };
        for name in names {
            let mut desc = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": md,
                "size": manifest.len(),
            });
            if let Some(n) = name {
                desc["annotations"] = json!({"org.opencontainers.image.ref.name": n});
            }
            index.push(desc);
        }
    }
    let index = json!({"schemaVersion": 2, "manifests": index});
    out.add("index.json", &serde_json::to_vec(&index).expect("index json"));
    out.finish()
}

/// The outer tar, each member once.
#[derive(Default)]
struct Archive {
    tar: Option<tar::Builder<Vec<u8>>>,
    names: std::collections::BTreeSet<String>,
}

impl Archive {
    fn add(&mut self, name: &str, data: &[u8]) {
        if !self.names.insert(name.to_string()) {
            return;
        }
        let tar = self.tar.get_or_insert_with(|| tar::Builder::new(Vec::new()));
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, name, data).expect("archive member");
    }

    fn finish(self) -> Vec<u8> {
        self.tar.unwrap_or_else(|| tar::Builder::new(Vec::new())).into_inner().expect("finish the archive")
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// `/etc/passwd` of the test images: root and nobody (65534).
const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

/// One layer: `bin/busybox` with a symlink for each applet, `etc/passwd` and `etc/group` with
/// root and nobody (65534), and `tmp`.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = fs::read(BUSYBOX).unwrap_or_else(|e| panic!("{BUSYBOX} (package busybox-static): {e}"));
    let list = Command::new(BUSYBOX).arg("--list").output().expect("busybox --list");
    let applets = String::from_utf8(list.stdout).expect("applet names");
    let mut layer = Layer::new()
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, &busybox)
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, PASSWD)
        .file("etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n")
        .dir("root", 0o700)
        .dir("tmp", 0o1777);
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') || applet.starts_with('.') {
            continue;
        }
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    layer.build()
}

/// The busybox image named `reference`: `Cmd ["sh"]`, `Env PATH`.
pub fn busybox_image(reference: &str) -> TestImage {
    TestImage::new(&[reference], vec![busybox_layer()])
}

/// Write the busybox image named `reference` to `dest` in `format`.
pub fn busybox_archive(dest: &Path, reference: &str, format: ArchiveFormat) {
    write_archive(dest, &[busybox_image(reference)], format);
}

/// Where Debian's nginx package installs nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// The nginx configuration of the test image: port 80, the default page, and `/health` and
/// `/ready` answering 200 (the seed's web-app Deployment probes them).
const NGINX_CONF: &str = "user nobody nogroup;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
    access_log /dev/stdout;
    include /etc/nginx/mime.types;
    server {
        listen 80;
        root /usr/share/nginx/html;
        location = /health { return 200 \"ok\\n\"; }
        location = /ready { return 200 \"ok\\n\"; }
    }
}
";

/// The shared libraries a binary needs, as ldd resolves them on this machine.
fn shared_libraries(binary: &str) -> Vec<String> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let path = l.split("=>").nth(1).unwrap_or(l).split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

/// An nginx image from the host's Debian nginx (package nginx): the binary and the libraries
/// it links, mime.types, a default page, and a config that serves `/health` and `/ready`;
/// `Cmd ["nginx", "-g", "daemon off;"]` and STOPSIGNAL SIGQUIT as the official image. Panics
/// naming the package when nginx is missing.
pub fn nginx_image(reference: &str) -> TestImage {
    let binary = fs::read(NGINX).unwrap_or_else(|e| panic!("{NGINX} (package nginx): {e}"));
    let mut layer = Layer::new()
        .dir("usr", 0o755)
        .dir("usr/sbin", 0o755)
        .file("usr/sbin/nginx", 0o755, &binary)
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, PASSWD)
        .file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")
        .dir("etc/nginx", 0o755)
        .file("etc/nginx/nginx.conf", 0o644, NGINX_CONF.as_bytes())
        .file("etc/nginx/mime.types", 0o644, &fs::read("/etc/nginx/mime.types").unwrap_or_default())
        .dir("usr/share", 0o755)
        .dir("usr/share/nginx", 0o755)
        .dir("usr/share/nginx/html", 0o755)
        .file("usr/share/nginx/html/index.html", 0o644, b"<h1>Welcome to nginx!</h1>\n")
        .dir("var", 0o755)
        .dir("var/log", 0o755)
        .dir("var/log/nginx", 0o755)
        .dir("var/lib", 0o755)
        .dir("var/lib/nginx", 0o755)
        .dir("run", 0o755)
        .dir("tmp", 0o1777);
    let mut dirs: Vec<String> = Vec::new();
    for lib in shared_libraries(NGINX) {
        let rel = lib.trim_start_matches('/');
        let mut parent = String::new();
        for part in rel.split('/').collect::<Vec<_>>().split_last().map(|(_, d)| d.to_vec()).unwrap_or_default() {
            parent = if parent.is_empty() { part.to_string() } else { format!("{parent}/{part}") };
            if !dirs.contains(&parent) && !["usr", "etc", "var", "run", "tmp"].contains(&parent.as_str()) {
                dirs.push(parent.clone());
                layer = layer.dir(&parent, 0o755);
            }
        }
        let real = fs::canonicalize(&lib).unwrap_or_else(|e| panic!("{lib}: {e}"));
        layer = layer.file(rel, 0o755, &fs::read(&real).unwrap_or_else(|e| panic!("{}: {e}", real.display())));
    }
    let mut image = TestImage::new(&[reference], vec![layer.build()]);
    image.config = json!({
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGQUIT",
    });
    image
}

/// Write the nginx image named `reference` to `dest` (docker save format).
pub fn nginx_archive(dest: &Path, reference: &str) {
    write_archive(dest, &[nginx_image(reference)], ArchiveFormat::DockerSave);
}
