//! `skiff images` as a user runs it, without a cluster: import a busybox archive into a temp data
//! dir, list it, remove it; and the one-line errors.

use std::path::Path;
use std::process::{Command, Output};

use skiff_e2e::images::{ArchiveFormat, busybox_archive};

/// A temporary dir, removed when dropped (also when the test fails).
fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("scratch dir")
}

fn skiff(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("images")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run skiff")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn import_ls_and_rm_a_busybox_archive() {
    let dir = scratch("skiff-images-cli-");
    let data = dir.path().join("data");
    let docker = dir.path().join("busybox.tar.gz");
    let oci = dir.path().join("tools.tar");
    busybox_archive(&docker, "busybox:1.36", ArchiveFormat::DockerSaveGzip);
    busybox_archive(&oci, "registry.local/tools/busybox:v2", ArchiveFormat::OciArchive);

    let out = skiff(&data, &["import", docker.to_str().unwrap(), oci.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "docker.io/library/busybox:1.36\nregistry.local/tools/busybox:v2\n");
    assert!(stderr(&out).is_empty(), "no progress when stderr is not a terminal: {}", stderr(&out));

    let out = skiff(&data, &["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"], "{text}");
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(&lines[1][..2], ["docker.io/library/busybox", "1.36"], "{text}");
    assert_eq!(&lines[2][..2], ["registry.local/tools/busybox", "v2"], "{text}");
    assert_eq!(lines[1][2], lines[2][2], "the same image under two names: {text}");
    assert!(lines[1][3].ends_with("MB"), "{text}");

    let out = skiff(&data, &["rm", "busybox:1.36"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = skiff(&data, &["ls", "-q"]);
    assert_eq!(stdout(&out).lines().count(), 1, "still named registry.local/tools/busybox:v2");

    let out = skiff(&data, &["rm", "registry.local/tools/busybox:v2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = skiff(&data, &["ls"]);
    assert_eq!(stdout(&out).lines().count(), 1, "only the header is left: {}", stdout(&out));
    let layers = std::fs::read_dir(data.join("agent/store/layers")).unwrap().count();
    assert_eq!(layers, 0, "the unpacked layer is gone with the last name");
}

#[test]
fn errors_are_one_line_naming_the_problem() {
    let dir = scratch("skiff-images-errors-");
    let data = dir.path().join("data");
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, "not an archive ".repeat(100)).unwrap();
    let missing = dir.path().join("missing.tar");

    for (args, expected) in [
        (vec!["import", missing.to_str().unwrap()], "missing.tar: no such file"),
        (vec!["import", junk.to_str().unwrap()], "junk.tar: not an image archive"),
        (vec!["rm", "nothing:here"], "image \"nothing:here\" not found"),
        (vec!["rm", "Bad Name"], "invalid image reference"),
    ] {
        let out = skiff(&data, &args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("skiff: ") && err.contains(expected), "{args:?}: {err}");
    }
}
