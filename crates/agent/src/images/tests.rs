//! The store end to end: archives built by `skiff_e2e::images` imported into a temp store.
//! Runs as root (owners, device nodes, the overlay mount).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use skiff_e2e::images::{ArchiveFormat, Layer, TestImage, busybox_archive, gzip, sha256, write_archive};

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    store: ImageStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    Fixture { dir, store }
}

impl Fixture {
    fn archive(&self, name: &str, images: &[TestImage], format: ArchiveFormat) -> PathBuf {
        let path = self.dir.path().join(name);
        write_archive(&path, images, format);
        path
    }

    fn import(&self, path: &Path) -> Result<Vec<String>, ImageError> {
        self.store.import(path, &mut |_| {})
    }

    fn dir_entries(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.store.root().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn base_layer() -> Vec<u8> {
    Layer::new().dir("etc", 0o755).file("etc/os-release", 0o644, b"ID=test\n").build()
}

fn app_image(tag: &str, content: &[u8]) -> TestImage {
    TestImage::new(&[tag], vec![base_layer(), Layer::new().file("app", 0o755, content).build()])
}

#[test]
fn docker_save_archive_resolves_by_name_id_and_id_prefix() {
    let f = fixture();
    let path = f.dir.path().join("busybox.tar");
    busybox_archive(&path, "busybox:1.36", ArchiveFormat::DockerSave);
    assert_eq!(f.import(&path).unwrap(), vec!["docker.io/library/busybox:1.36"]);

    let image = f.store.resolve("busybox:1.36").unwrap().expect("imported");
    assert_eq!(image.config.cmd, vec!["sh"]);
    assert!(image.config.env.iter().any(|e| e.starts_with("PATH=")));
    assert_eq!(image.layers.len(), 1);
    let root = &image.layers[0];
    assert!(root.join("bin/busybox").metadata().unwrap().mode() & 0o111 != 0);
    assert_eq!(fs::read_link(root.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert!(fs::read_to_string(root.join("etc/passwd")).unwrap().contains(":65534:"));
    assert!(image.size > 1_000_000);

    let hex = image.id.strip_prefix("sha256:").unwrap();
    for by in [
        image.id.clone(),
        hex[..12].to_string(),
        format!("sha256:{}", &hex[..8]),
        "docker.io/library/busybox:1.36".into(),
    ] {
        assert_eq!(f.store.resolve(&by).unwrap().map(|i| i.id), Some(image.id.clone()), "{by}");
    }
    assert_eq!(f.store.resolve("busybox").unwrap(), None, "only the 1.36 tag was imported");
}

#[test]
fn oci_archive_with_gzip_layers_gets_a_repo_digest() {
    let f = fixture();
    let path = f.dir.path().join("busybox-oci.tar");
    busybox_archive(&path, "localhost:5000/tools/busybox:v1", ArchiveFormat::OciArchive);
    assert_eq!(f.import(&path).unwrap(), vec!["localhost:5000/tools/busybox:v1"]);

    let image = f.store.resolve("localhost:5000/tools/busybox:v1").unwrap().unwrap();
    assert_eq!(image.repo_digests.len(), 1);
    let by_digest = f.store.resolve(&image.repo_digests[0]).unwrap().unwrap();
    assert_eq!(by_digest.id, image.id);
    assert!(image.layers[0].join("bin/busybox").is_file());
}

#[test]
fn gzip_compressed_archive_imports_and_reports_progress() {
    let f = fixture();
    let path = f.dir.path().join("busybox.tar.gz");
    busybox_archive(&path, "busybox", ArchiveFormat::DockerSaveGzip);
    let mut reports = Vec::new();
    let names = f.store.import(&path, &mut |p| reports.push(p)).unwrap();
    assert_eq!(names, vec!["docker.io/library/busybox:latest"]);
    let last = |stage| *reports.iter().rfind(|p| p.stage == stage).unwrap();
    let d = last(Stage::Decompressing);
    assert_eq!((d.done, d.total), (d.total, fs::metadata(&path).unwrap().len()));
    let u = last(Stage::Unpacking);
    assert!(u.total > 1_000_000 && u.done == u.total, "{u:?}");
    assert!(f.dir_entries("tmp").is_empty(), "the decompressed copy is gone");
}

#[test]
fn images_sharing_a_layer_share_its_directory_until_both_are_removed() {
    let f = fixture();
    let one = f.archive("one.tar", &[app_image("one", b"1")], ArchiveFormat::DockerSave);
    // OCI archives name images by a full reference (a bare word would be only a tag).
    let two = f.archive("two.tar", &[app_image("two:latest", b"2")], ArchiveFormat::OciArchive);
    f.import(&one).unwrap();
    f.import(&two).unwrap();
    let (a, b) = (f.store.resolve("one").unwrap().unwrap(), f.store.resolve("two").unwrap().unwrap());
    assert_eq!(a.layers[0], b.layers[0]);
    assert_ne!(a.layers[1], b.layers[1]);
    assert_eq!(f.dir_entries("layers").len(), 3);

    f.store.remove("one").unwrap();
    assert!(f.store.resolve("one").unwrap().is_none());
    assert!(b.layers.iter().all(|l| l.is_dir()), "the shared and the own layer of two stay");
    assert!(!a.layers[1].exists());

    f.store.remove("two").unwrap();
    assert!(f.dir_entries("layers").is_empty());
    assert!(f.dir_entries("blobs/sha256").is_empty());
    assert!(f.store.list().unwrap().is_empty());
}

#[test]
fn one_archive_with_two_images_unpacks_the_shared_layer_once() {
    let f = fixture();
    let path = f.archive("both.tar", &[app_image("one", b"1"), app_image("two", b"2")], ArchiveFormat::DockerSave);
    let mut names = f.import(&path).unwrap();
    names.sort();
    assert_eq!(names, vec!["docker.io/library/one:latest", "docker.io/library/two:latest"]);
    assert_eq!(f.dir_entries("layers").len(), 3);
}

#[test]
fn whiteouts_hide_lower_files_in_an_overlay_of_the_layers() {
    let f = fixture();
    let lower = Layer::new()
        .dir("a", 0o755)
        .file("a/keep", 0o644, b"k")
        .file("a/gone", 0o644, b"g")
        .dir("d", 0o755)
        .file("d/old", 0o644, b"o")
        .build();
    let upper = Layer::new().whiteout("a/gone").dir("d", 0o755).opaque("d").file("d/new", 0o644, b"n").build();
    let path = f.archive("wh.tar", &[TestImage::new(&["wh"], vec![lower, upper])], ArchiveFormat::DockerSave);
    f.import(&path).unwrap();
    let image = f.store.resolve("wh").unwrap().unwrap();

    let top = &image.layers[1];
    let wh = fs::symlink_metadata(top.join("a/gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0 && wh.uid() == 0);
    assert_eq!(xattr::get(top.join("d"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
    assert!(!top.join("d/.wh..wh..opq").exists());

    // overlayfs lists lower dirs highest first.
    let lowerdir = image.layers.iter().rev().map(|l| l.display().to_string()).collect::<Vec<_>>().join(":");
    let merged = f.dir.path().join("merged");
    fs::create_dir(&merged).unwrap();
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(format!("lowerdir={lowerdir}").as_str()),
    )
    .expect("overlay mount (needs root)");
    let seen = (
        merged.join("a/keep").exists(),
        merged.join("a/gone").exists(),
        merged.join("d/old").exists(),
        merged.join("d/new").exists(),
    );
    nix::mount::umount(&merged).unwrap();
    assert_eq!(seen, (true, false, false, true));
}

#[test]
fn removing_a_tag_keeps_the_image_while_another_tag_names_it() {
    let f = fixture();
    let image = TestImage::new(&["x:1", "x:2"], vec![base_layer()]);
    f.import(&f.archive("x.tar", &[image], ArchiveFormat::DockerSave)).unwrap();
    f.store.remove("x:1").unwrap();
    let left = f.store.list().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].repo_tags, vec!["docker.io/library/x:2"]);
    assert!(matches!(f.store.remove("x:1"), Err(ImageError::NotFound(_))));
    f.store.remove(&left[0].id).unwrap();
    assert!(f.store.list().unwrap().is_empty());
}

#[test]
fn a_retagged_name_leaves_the_old_image_untagged() {
    let f = fixture();
    f.import(&f.archive("1.tar", &[app_image("app", b"1")], ArchiveFormat::DockerSave)).unwrap();
    f.import(&f.archive("2.tar", &[app_image("app", b"2")], ArchiveFormat::DockerSave)).unwrap();
    let list = f.store.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|i| i.repo_tags.is_empty()).count(), 1);
    assert_eq!(f.store.resolve("app").unwrap().unwrap().id, app_image("app", b"2").id());
}

#[test]
fn missing_and_non_archive_files_are_named_errors() {
    let f = fixture();
    let missing = f.dir.path().join("nope.tar");
    assert!(matches!(f.import(&missing), Err(ImageError::MissingFile(_))));

    let text = f.dir.path().join("text.tar");
    fs::write(&text, "hello, this is not a tar file at all".repeat(50)).unwrap();
    let e = f.import(&text).unwrap_err();
    assert!(matches!(e, ImageError::NotAnArchive { .. }), "{e}");

    let plain = f.dir.path().join("plain.tar");
    fs::write(&plain, Layer::new().file("readme", 0o644, b"hi").build()).unwrap();
    let e = f.import(&plain).unwrap_err();
    assert!(e.to_string().contains("no manifest.json or index.json"), "{e}");
}

#[test]
fn a_truncated_gzip_archive_is_a_corrupt_gzip_error() {
    let f = fixture();
    let path = f.dir.path().join("cut.tar.gz");
    let full = gzip(&Layer::new().file("x", 0o644, &[7u8; 100_000]).build());
    fs::write(&path, &full[..full.len() / 2]).unwrap();
    let e = f.import(&path).unwrap_err();
    assert!(matches!(e, ImageError::CorruptGzip { .. }), "{e}");
    assert!(f.dir_entries("tmp").is_empty());
}

/// A docker-save archive whose config lists `diff_id` for a layer holding `layer`.
fn lying_archive(path: &Path, diff_id: &str, layer: &[u8]) {
    let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"config":{{}}}}"#);
    let config_name = format!("{}.json", &sha256(config.as_bytes())[7..]);
    let manifest = format!(r#"[{{"Config":"{config_name}","RepoTags":["liar:1"],"Layers":["l/layer.tar"]}}]"#);
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in
        [(config_name.as_str(), config.as_bytes()), ("l/layer.tar", layer), ("manifest.json", manifest.as_bytes())]
    {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data).unwrap();
    }
    fs::write(path, tar.into_inner().unwrap()).unwrap();
}

#[test]
fn a_layer_not_matching_its_diff_id_is_refused_and_nothing_is_kept() {
    let f = fixture();
    let path = f.dir.path().join("liar.tar");
    let layer = Layer::new().file("x", 0o644, b"x").build();
    lying_archive(&path, &sha256(b"something else"), &layer);
    let e = f.import(&path).unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("l/layer.tar"), "{e}");
    assert!(f.store.list().unwrap().is_empty());
    assert!(f.dir_entries("layers").is_empty());
    assert!(f.dir_entries("tmp").is_empty());
}

#[test]
fn a_config_not_matching_its_file_name_is_a_digest_mismatch() {
    let f = fixture();
    let path = f.archive("x.tar", &[app_image("x", b"1")], ArchiveFormat::DockerSave);
    let mut bytes = fs::read(&path).unwrap();
    // Change `"sh"` of Cmd inside the config member: same size, other content.
    let at = bytes.windows(6).position(|w| w == b"[\"sh\"]").unwrap();
    bytes[at + 2] = b'z';
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut out = tar::Builder::new(Vec::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        h.set_cksum();
        out.append(&h, &mut e).unwrap();
    }
    fs::write(&path, out.into_inner().unwrap()).unwrap();
    let e = f.import(&path).unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
}

#[test]
fn a_layer_escaping_its_directory_is_refused() {
    let f = fixture();
    let evil = Layer::new().raw(b"../../escaped", tar::EntryType::Regular, b"", b"x").build();
    let path = f.archive("evil.tar", &[TestImage::new(&["evil"], vec![evil])], ArchiveFormat::DockerSave);
    let e = f.import(&path).unwrap_err();
    assert!(matches!(e, ImageError::BadLayer { .. }) && e.to_string().contains("outside the layer"), "{e}");
    assert!(!f.dir.path().join("escaped").exists() && !f.store.root().join("escaped").exists());
    assert!(f.dir_entries("layers").is_empty());
}

#[test]
fn import_dir_imports_each_archive_once() {
    let f = fixture();
    let dir = f.dir.path().join("images");
    fs::create_dir(&dir).unwrap();
    write_archive(&dir.join("one.tar"), &[app_image("one", b"1")], ArchiveFormat::DockerSave);
    write_archive(&dir.join("two.tar.gz"), &[app_image("two", b"2")], ArchiveFormat::DockerSaveGzip);
    fs::write(dir.join("broken.tar"), b"junk").unwrap();
    fs::write(dir.join("notes.md"), b"not an archive").unwrap();

    let mut names = f.store.import_dir(&dir).unwrap();
    names.sort();
    assert_eq!(names, vec!["docker.io/library/one:latest", "docker.io/library/two:latest"]);
    assert!(f.store.import_dir(&dir).unwrap().is_empty(), "unchanged archives are not imported again");

    write_archive(&dir.join("one.tar"), &[app_image("one", b"changed")], ArchiveFormat::DockerSave);
    assert_eq!(f.store.import_dir(&dir).unwrap(), vec!["docker.io/library/one:latest"]);
    assert!(f.store.import_dir(&f.dir.path().join("absent")).unwrap().is_empty());
}

#[test]
fn an_untagged_image_is_reported_by_its_id() {
    let f = fixture();
    let image = TestImage::new(&[], vec![base_layer()]);
    for format in [ArchiveFormat::DockerSave, ArchiveFormat::OciArchive] {
        let path = f.archive("untagged.tar", std::slice::from_ref(&image), format);
        assert_eq!(f.import(&path).unwrap(), vec![image.id()]);
    }
    assert_eq!(f.store.list().unwrap().len(), 1);
}

#[test]
fn a_bad_reference_is_an_error_and_an_unknown_one_is_none() {
    let f = fixture();
    assert!(matches!(f.store.resolve("Bad Name"), Err(ImageError::BadReference { .. })));
    assert_eq!(f.store.resolve("busybox").unwrap(), None);
    assert!(matches!(f.store.remove("busybox"), Err(ImageError::NotFound(_))));
}

#[test]
fn concurrent_imports_of_one_archive_both_succeed_with_one_copy() {
    let f = fixture();
    let path = f.archive("x.tar", &[app_image("x:latest", b"1")], ArchiveFormat::OciArchive);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (store, path) = (f.store.clone(), path.clone());
            std::thread::spawn(move || store.import(&path, &mut |_| {}))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), vec!["docker.io/library/x:latest"]);
    }
    assert_eq!(f.store.list().unwrap().len(), 1);
    assert_eq!(f.dir_entries("layers").len(), 2);
}

#[test]
fn an_oci_name_that_is_only_a_tag_imports_the_image_untagged() {
    let f = fixture();
    let image = app_image("latest", b"1");
    let path = f.archive("bare.tar", std::slice::from_ref(&image), ArchiveFormat::OciArchive);
    assert_eq!(f.import(&path).unwrap(), vec![image.id()]);
}

#[test]
fn a_multi_platform_index_imports_this_machines_image() {
    let f = fixture();
    let image = app_image("ignored:1", b"1");
    let path = f.archive("multi.tar", std::slice::from_ref(&image), ArchiveFormat::OciArchive);
    // Re-write index.json to point at an image index listing two platforms.
    let bytes = fs::read(&path).unwrap();
    let mut members = Vec::new();
    for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        members.push((name, data));
    }
    let (_, index) = members.iter().find(|(n, _)| n == "index.json").unwrap();
    let index: serde_json::Value = serde_json::from_slice(index).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let arch = if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" };
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(b"absent"), "size": 1,
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": 1,
             "platform": {"os": "linux", "architecture": arch}},
        ],
    });
    let list = serde_json::to_vec(&list).unwrap();
    let list_digest = sha256(&list);
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": list_digest, "size": list.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi:1"},
    }]});
    members.retain(|(n, _)| n != "index.json");
    members.push((format!("blobs/sha256/{}", &list_digest[7..]), list));
    members.push(("index.json".into(), serde_json::to_vec(&top).unwrap()));
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in &members {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, name, &data[..]).unwrap();
    }
    fs::write(&path, out.into_inner().unwrap()).unwrap();

    assert_eq!(f.import(&path).unwrap(), vec!["docker.io/library/multi:1"]);
    let resolved = f.store.resolve("multi:1").unwrap().unwrap();
    assert_eq!(resolved.id, image.id());
    assert_eq!(resolved.repo_digests, vec![format!("docker.io/library/multi@{list_digest}")]);
}
