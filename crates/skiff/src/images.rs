//! `skiff images`: import archives into the node's image store or pull from registries, list and
//! remove images. Works on the store directly (no server needed), also while the agent runs: the
//! store locks itself.

use std::io::{IsTerminal, Write};
use std::path::Path;

use std::sync::Mutex;

use skiff_agent::images::{ImageStore, ImageSummary, Progress, PullOptions, PullProgress, Stage};

use crate::cli::{ImagesArgs, ImagesCommand};

pub fn run(args: ImagesArgs) -> Result<(), String> {
    let root = args.data_dir.join("agent").join("store");
    let store = ImageStore::open(&root).map_err(|e| e.to_string())?;
    match args.command {
        ImagesCommand::Import { files } => each(&files, |file| import(&store, file)),
        ImagesCommand::Pull { insecure, reference } => pull(&store, &reference, insecure),
        ImagesCommand::Ls { quiet } => list(&store, quiet),
        ImagesCommand::Rm { references } => each(&references, |r| {
            store.remove(r).map_err(|e| e.to_string())?;
            println!("Deleted: {r}");
            Ok(())
        }),
    }
}

/// Do `f` for every item; report every failure but the last on stderr and return the last, so
/// one bad file among many still lets the others through and the exit status says something
/// failed.
fn each<T>(items: &[T], mut f: impl FnMut(&T) -> Result<(), String>) -> Result<(), String> {
    let mut last = Ok(());
    for item in items {
        if let Err(e) = f(item)
            && let Err(previous) = std::mem::replace(&mut last, Err(e))
        {
            eprintln!("skiff: {previous}");
        }
    }
    last
}

fn import(store: &ImageStore, file: &Path) -> Result<(), String> {
    let tty = std::io::stderr().is_terminal();
    let name = file.display().to_string();
    let mut show = |p: Progress| {
        if tty {
            let stage = match p.stage {
                Stage::Decompressing => "decompressing",
                Stage::Unpacking => "unpacking",
            };
            eprint!("\r\x1b[K{name}: {stage} {} / {}", human_size(p.done), human_size(p.total));
            let _ = std::io::stderr().flush();
        }
    };
    let result = store.import(file, &mut show);
    if tty {
        eprint!("\r\x1b[K");
    }
    for reference in result.map_err(|e| e.to_string())? {
        println!("{reference}");
    }
    Ok(())
}

/// Pull one image, showing each layer's progress on a terminal; prints the reference pulled.
fn pull(store: &ImageStore, reference: &str, insecure: bool) -> Result<(), String> {
    let parsed = skiff_agent::images::parse_reference(reference).map_err(|e| e.to_string())?;
    let mut options = PullOptions::default();
    if insecure {
        options.insecure_registries.push(parsed.name.split('/').next().unwrap_or_default().to_string());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the pull: {e}"))?;
    let board = Mutex::new(Board { tty: std::io::stderr().is_terminal(), layers: Vec::new() });
    let show = |p: PullProgress| board.lock().unwrap_or_else(|e| e.into_inner()).update(p);
    let pulled = runtime.block_on(store.pull(reference, &options, &show)).map_err(|e| e.to_string())?;
    println!("{}", parsed.tagged().unwrap_or(pulled.repo_digest));
    Ok(())
}

/// One line per layer on the terminal, redrawn in place.
struct Board {
    tty: bool,
    /// (short digest, state) in manifest order.
    layers: Vec<(String, String)>,
}

impl Board {
    fn update(&mut self, p: PullProgress) {
        if !self.tty {
            return;
        }
        let (digest, state) = match p {
            PullProgress::Resolved { layers } => {
                for (d, size) in layers {
                    let line = (short(&d), format!("waiting ({})", human_size(size)));
                    eprintln!("{}: {}", line.0, line.1);
                    self.layers.push(line);
                }
                return;
            }
            PullProgress::Exists { digest } => (digest, "already exists".to_string()),
            PullProgress::Downloading { digest, done, total } => {
                (digest, format!("downloading {} / {}", human_size(done), human_size(total)))
            }
            PullProgress::Unpacking { digest } => (digest, "unpacking".to_string()),
            PullProgress::Done { digest } => (digest, "pull complete".to_string()),
        };
        let key = short(&digest);
        let Some(i) = self.layers.iter().position(|(d, _)| *d == key) else { return };
        if self.layers[i].1 == state {
            return;
        }
        let up = self.layers.len() - i;
        eprint!("\x1b[{up}A\r\x1b[K{key}: {state}\x1b[{up}B\r");
        let _ = std::io::stderr().flush();
        self.layers[i].1 = state;
    }
}

/// The first 12 hex digits of a digest, as Docker shows layers.
fn short(digest: &str) -> String {
    digest.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Columns as `crictl images`.
fn list(store: &ImageStore, quiet: bool) -> Result<(), String> {
    let images = store.list().map_err(|e| e.to_string())?;
    if quiet {
        for i in &images {
            println!("{}", i.id);
        }
        return Ok(());
    }
    let mut rows: Vec<[String; 4]> = images.iter().flat_map(rows).collect();
    rows.sort();
    let header = ["IMAGE", "TAG", "IMAGE ID", "SIZE"].map(String::from);
    let width = |c: usize| std::iter::once(&header).chain(&rows).map(|r| r[c].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut out = std::io::stdout().lock();
    for r in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:w0$}   {:w1$}   {:w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        writeln!(out, "{}", line.trim_end()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One row per tag; an untagged image gets one `<none>` row.
fn rows(image: &ImageSummary) -> Vec<[String; 4]> {
    let id: String = image.id.trim_start_matches("sha256:").chars().take(13).collect();
    let size = human_size(image.size);
    let mut rows: Vec<[String; 4]> = image
        .repo_tags
        .iter()
        .map(|t| {
            let (repo, tag) = split_tag(t);
            [repo.to_string(), tag.to_string(), id.clone(), size.clone()]
        })
        .collect();
    if rows.is_empty() {
        let repo = image.repo_digests.first().and_then(|d| d.split_once('@')).map_or("<none>", |(r, _)| r);
        rows.push([repo.to_string(), "<none>".into(), id, size]);
    }
    rows
}

fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "<none>"),
    }
}

/// Decimal units with three significant digits, as Docker and crictl print sizes (`2.16MB`).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 999.5 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    let s = if v >= 99.95 {
        format!("{v:.0}")
    } else if v >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_crictl() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2_160_000), "2.16MB");
        assert_eq!(human_size(745_000), "745kB");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(12_340_000_000), "12.3GB");
    }

    #[test]
    fn untagged_images_show_none() {
        let image = ImageSummary {
            id: format!("sha256:{}", "ab".repeat(32)),
            repo_tags: vec![],
            repo_digests: vec![format!("docker.io/library/x@sha256:{}", "0".repeat(64))],
            size: 1,
        };
        assert_eq!(rows(&image), vec![["docker.io/library/x", "<none>", "ababababababa", "1B"].map(String::from)]);
        assert_eq!(split_tag("localhost:5000/x:1"), ("localhost:5000/x", "1"));
    }
}
