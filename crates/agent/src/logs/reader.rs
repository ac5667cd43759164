//! Reads a container run's CRI log back as `kubectl logs` shows it: the text of each line (the
//! `P` pieces of a long line joined with the rest, a newline after each `F`), optionally with
//! its time in front, from the last N lines, since a time, up to a byte limit, and following new
//! lines until the run ends.
//!
//! A run's log is the live file plus, when it was rotated, `<file>.1` before it; both are read
//! as one. Files are read with plain blocking reads: they are regular files on a local disk, so
//! a read never waits for data to arrive, only for the disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use super::writer::rfc3339_nano;

/// How often a follower looks for new lines (kubectl users notice more than ~100 ms).
const POLL: Duration = Duration::from_millis(50);
/// How much is read at once (and the largest piece [`LogReader::next`] returns, roughly).
const CHUNK: usize = 64 * 1024;

/// What to read, as `PodLogOptions` asks it.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines (a line split into `P` pieces counts once).
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Put each line's RFC 3339 time (nanoseconds, trailing zeros dropped) in front of it.
    pub timestamps: bool,
    /// Stop after this many bytes of output, cutting the last line.
    pub limit_bytes: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("opening log file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("reading log file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

/// One file being read.
struct Source {
    path: PathBuf,
    file: File,
}

/// Reads one container run's log; call [`LogReader::next`] until it returns `None`.
pub struct LogReader {
    opts: LogOptions,
    /// The file being read, and the live file still to read after it (when reading `.1`).
    source: Option<Source>,
    then: Option<Source>,
    /// The live file's path: following checks it for rotation.
    live: PathBuf,
    /// Bytes of a record whose newline has not been read yet.
    pending: Vec<u8>,
    /// Whether the next record starts an output line (gets the timestamp).
    line_start: bool,
    remaining: Option<u64>,
    /// While following: whether the run still goes on.
    running: Option<watch::Receiver<bool>>,
    /// The run was seen ended: drain what is left once more, then stop.
    draining: bool,
    done: bool,
}

impl LogReader {
    /// Open the log at `path` (and its rotated part). `running` says whether the run goes on;
    /// it is only looked at when following.
    pub fn open(path: &Path, running: watch::Receiver<bool>, opts: LogOptions) -> Result<LogReader, ReadError> {
        let open = |p: &Path| File::open(p).map_err(|source| ReadError::Open { path: p.to_path_buf(), source });
        let live = Source { path: path.to_path_buf(), file: open(path)? };
        let rotated_path = rotated(path);
        let rotated = match File::open(&rotated_path) {
            Ok(file) => Some(Source { path: rotated_path, file }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(ReadError::Open { path: rotated_path, source }),
        };
        let (mut source, mut then) = match rotated {
            Some(r) => (r, Some(live)),
            None => (live, None),
        };
        if let Some(n) = opts.tail_lines {
            // Tail over both parts: the live file first, then into the rotated one.
            let last = then.as_mut().unwrap_or(&mut source);
            match tail_start(last, n, true)? {
                Tail::At(offset) => {
                    if let Some(l) = then.take() {
                        source = l;
                    }
                    seek(&mut source, offset)?;
                }
                Tail::Short(found) => {
                    // Fewer lines than asked in the live file: the rest come from the rotated
                    // part (or everything is shown).
                    let offset = match then.is_some() {
                        true => match tail_start(&mut source, n - found, false)? {
                            Tail::At(offset) => offset,
                            Tail::Short(_) => 0,
                        },
                        false => 0,
                    };
                    seek(&mut source, offset)?;
                    if let Some(live) = then.as_mut() {
                        seek(live, 0)?;
                    }
                }
            }
        }
        Ok(LogReader {
            remaining: opts.limit_bytes,
            running: opts.follow.then_some(running),
            opts,
            source: Some(source),
            then,
            live: path.to_path_buf(),
            pending: Vec::new(),
            line_start: true,
            draining: false,
            done: false,
        })
    }

    /// The next piece of output; `None` once everything asked for was read.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(src) = self.source.as_mut() else { return Ok(None) };
            let n = src.file.read(&mut buf).map_err(|source| ReadError::Read { path: src.path.clone(), source })?;
            if n > 0 {
                self.pending.extend_from_slice(&buf[..n]);
                let out = self.complete_records();
                if !out.is_empty() {
                    return Ok(Some(out));
                }
                continue;
            }
            // End of this file.
            if let Some(next) = self.then.take() {
                self.source = Some(next);
                continue;
            }
            if self.running.is_none() || self.draining {
                self.done = true;
                let out = self.last_record();
                return Ok((!out.is_empty()).then_some(out));
            }
            if self.rotated_away()? {
                continue;
            }
            let running = self.running.as_mut().expect("following");
            if !*running.borrow_and_update() {
                // Lines written before the run ended may still be on their way: read once more.
                self.draining = true;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                changed = running.changed() => {
                    if changed.is_err() {
                        self.draining = true;
                    }
                }
            }
        }
    }

    /// Whether the live file was rotated under a follower: then the new file is read next,
    /// after the old one is read to its end once more (it may have grown since the last read,
    /// but is written no more).
    fn rotated_away(&mut self) -> Result<bool, ReadError> {
        let Some(src) = self.source.as_mut() else { return Ok(false) };
        let Ok(now) = std::fs::metadata(&self.live) else { return Ok(false) };
        let ours = src.file.metadata().map_err(|source| ReadError::Read { path: src.path.clone(), source })?;
        if now.ino() == ours.ino() && now.dev() == ours.dev() {
            return Ok(false);
        }
        match File::open(&self.live) {
            Ok(file) => {
                self.then = Some(Source { path: self.live.clone(), file });
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(ReadError::Open { path: self.live.clone(), source }),
        }
    }

    /// Turn every complete record in `pending` into output.
    fn complete_records(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let record = self.pending[start..end].to_vec();
            start = end + 1;
            self.emit(&record, &mut out);
            if self.done {
                break;
            }
        }
        self.pending.drain(..start.min(self.pending.len()));
        out
    }

    /// A last record without its newline (the writer was cut short) is still shown.
    fn last_record(&mut self) -> Vec<u8> {
        let mut out = self.complete_records();
        if !self.done && !self.pending.is_empty() {
            let record = std::mem::take(&mut self.pending);
            self.emit(&record, &mut out);
        }
        out
    }

    fn emit(&mut self, record: &[u8], out: &mut Vec<u8>) {
        let Some(r) = parse(record) else {
            tracing::debug!(line = %String::from_utf8_lossy(record), "skipping a malformed CRI log line");
            return;
        };
        let starts_line = self.line_start;
        self.line_start = !r.partial || r.text.is_empty();
        if self.opts.since.is_some_and(|since| r.time < since) {
            return;
        }
        let mut line = Vec::with_capacity(r.text.len() + 40);
        if self.opts.timestamps && starts_line {
            line.extend_from_slice(go_rfc3339_nano(r.time).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(r.text);
        if !r.partial {
            line.push(b'\n');
        }
        if let Some(remaining) = self.remaining.as_mut() {
            let take = line.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
            line.truncate(take);
            *remaining -= take as u64;
            if *remaining == 0 {
                self.done = true;
            }
        }
        out.extend_from_slice(&line);
    }
}

/// The name a rotated log file gets (see [`super::writer`]).
pub fn rotated(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

fn seek(src: &mut Source, offset: u64) -> Result<(), ReadError> {
    src.file
        .seek(SeekFrom::Start(offset))
        .map(drop)
        .map_err(|source| ReadError::Read { path: src.path.clone(), source })
}

/// One CRI log record.
struct Record<'a> {
    time: jiff::Timestamp,
    partial: bool,
    text: &'a [u8],
}

/// `<time> <stream> <tag>[:<more tags>] <text>`; `None` if the line is not one.
fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?.parse::<jiff::Timestamp>().ok()?;
    match fields.next()? {
        b"stdout" | b"stderr" => {}
        _ => return None,
    }
    let tags = fields.next()?;
    let partial = tags.split(|&b| b == b':').next() == Some(b"P");
    Some(Record { time, partial, text: fields.next().unwrap_or(b"") })
}

/// Whether a record ends a line of output: an `F` record, or the very last record (an
/// unfinished line still counts as one).
fn ends_line(record: &[u8]) -> bool {
    parse(record).is_none_or(|r| !r.partial)
}

enum Tail {
    /// The last N lines start at this offset.
    At(u64),
    /// The file holds only this many lines.
    Short(u64),
}

/// Where the last `n` lines of `src` start. Reads a growing window from the end, so a tail of
/// a few lines reads a few kilobytes however large the file. `last_file`: the file's last
/// record ends a line even when partial.
fn tail_start(src: &mut Source, n: u64, last_file: bool) -> Result<Tail, ReadError> {
    let read_err = |source| ReadError::Read { path: src.path.clone(), source };
    let len = src.file.metadata().map_err(read_err)?.len();
    let mut window = CHUNK as u64;
    loop {
        let from = len.saturating_sub(window);
        src.file.seek(SeekFrom::Start(from)).map_err(|source| ReadError::Read { path: src.path.clone(), source })?;
        let mut buf = Vec::with_capacity((len - from) as usize);
        (&mut src.file)
            .take(len - from)
            .read_to_end(&mut buf)
            .map_err(|source| ReadError::Read { path: src.path.clone(), source })?;
        // Records wholly inside the window: skip the first, cut one, unless at the start.
        let mut starts: Vec<usize> = Vec::new();
        let mut pos = 0;
        if from > 0 {
            match buf.iter().position(|&b| b == b'\n') {
                Some(nl) => pos = nl + 1,
                None => pos = buf.len(),
            }
        }
        while pos < buf.len() {
            starts.push(pos);
            pos = match buf[pos..].iter().position(|&b| b == b'\n') {
                Some(nl) => pos + nl + 1,
                None => buf.len(),
            };
        }
        // Walk back: every record that ends a line closes one more line of the tail; the
        // (n+1)-th from the end marks where the tail starts.
        let mut found = 0u64;
        for (i, &s) in starts.iter().enumerate().rev() {
            let end = starts.get(i + 1).copied().unwrap_or(buf.len());
            let record = buf[s..end].strip_suffix(b"\n").unwrap_or(&buf[s..end]);
            let last = i + 1 == starts.len();
            if ends_line(record) || (last && last_file) {
                if found == n {
                    return Ok(Tail::At(from + end as u64));
                }
                found += 1;
            }
        }
        if from == 0 {
            return Ok(Tail::Short(found));
        }
        window *= 2;
    }
}

/// Go's `time.RFC3339Nano` in UTC: what kubelet puts in front of lines (`…05.1Z`, `…05Z`).
pub fn go_rfc3339_nano(t: jiff::Timestamp) -> String {
    let full = rfc3339_nano(t);
    let Some((secs, frac)) = full.trim_end_matches('Z').split_once('.') else { return full };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { format!("{secs}Z") } else { format!("{secs}.{frac}Z") }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::logs::Stream;
    use crate::logs::writer::{LineSplitter, LogWriter};

    fn write_lines(path: &Path, lines: &[&str]) {
        let mut w = LogWriter::open(path.to_path_buf(), 1 << 30).unwrap();
        for l in lines {
            w.line(Stream::Stdout, l.as_bytes(), false).unwrap();
        }
    }

    async fn read_all(path: &Path, opts: LogOptions) -> String {
        let (_tx, rx) = watch::channel(false);
        let mut r = LogReader::open(path, rx, opts).unwrap();
        let mut out = Vec::new();
        while let Some(piece) = r.next().await.unwrap() {
            out.extend(piece);
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn joins_partial_pieces_and_ends_full_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::open(path.clone(), 1 << 30).unwrap();
        let mut split = LineSplitter::default();
        split.feed(b"one\ntw", |t, p| w.line(Stream::Stdout, t, p)).unwrap();
        split.feed(b"o\nerr\n", |t, p| w.line(Stream::Stderr, t, p)).unwrap();
        let long = "x".repeat(40_000);
        w.line(Stream::Stdout, long.as_bytes(), false).unwrap();
        w.line(Stream::Stdout, b"unfinished", true).unwrap();
        let text = read_all(&path, LogOptions::default()).await;
        assert_eq!(text, format!("one\ntwo\nerr\n{long}\nunfinished"));
    }

    #[tokio::test]
    async fn tail_counts_whole_lines_across_the_rotated_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        write_lines(&rotated(&path), &["a", "b", "c"]);
        write_lines(&path, &["d", "e"]);
        let tail = |n| LogOptions { tail_lines: Some(n), ..Default::default() };
        assert_eq!(read_all(&path, tail(0)).await, "");
        assert_eq!(read_all(&path, tail(1)).await, "e\n");
        assert_eq!(read_all(&path, tail(2)).await, "d\ne\n");
        assert_eq!(read_all(&path, tail(4)).await, "b\nc\nd\ne\n");
        assert_eq!(read_all(&path, tail(99)).await, "a\nb\nc\nd\ne\n");
        assert_eq!(read_all(&path, LogOptions::default()).await, "a\nb\nc\nd\ne\n");

        let long = "y".repeat(40_000);
        let mut w = LogWriter::open(path.clone(), 1 << 30).unwrap();
        w.line(Stream::Stdout, long.as_bytes(), false).unwrap();
        assert_eq!(read_all(&path, tail(1)).await, format!("{long}\n"));
        assert_eq!(read_all(&path, tail(2)).await, format!("e\n{long}\n"));
    }

    #[tokio::test]
    async fn tail_reads_far_back_in_a_large_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let lines: Vec<String> = (0..20_000).map(|i| format!("line {i}")).collect();
        write_lines(&path, &lines.iter().map(String::as_str).collect::<Vec<_>>());
        let text = read_all(&path, LogOptions { tail_lines: Some(15_000), ..Default::default() }).await;
        assert_eq!(text.lines().count(), 15_000);
        assert!(text.starts_with("line 5000\n") && text.ends_with("line 19999\n"));
    }

    #[tokio::test]
    async fn timestamps_prefix_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "2024-01-02T03:04:05.120000000Z stdout P hel").unwrap();
        writeln!(f, "2024-01-02T03:04:05.500000000Z stdout F lo").unwrap();
        writeln!(f, "2024-01-02T03:04:06.000000000Z stderr F oops").unwrap();
        writeln!(f, "not a cri line").unwrap();
        let text = read_all(&path, LogOptions { timestamps: true, ..Default::default() }).await;
        assert_eq!(text, "2024-01-02T03:04:05.12Z hello\n2024-01-02T03:04:06Z oops\n");
    }

    #[tokio::test]
    async fn since_skips_older_lines_and_limit_cuts_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "2024-01-02T03:04:05.000000000Z stdout F old").unwrap();
        writeln!(f, "2024-01-02T03:04:07.000000000Z stdout F new").unwrap();
        writeln!(f, "2024-01-02T03:04:08.000000000Z stdout F newer").unwrap();
        let since: jiff::Timestamp = "2024-01-02T03:04:06Z".parse().unwrap();
        let text = read_all(&path, LogOptions { since: Some(since), ..Default::default() }).await;
        assert_eq!(text, "new\nnewer\n");
        let text = read_all(&path, LogOptions { limit_bytes: Some(6), ..Default::default() }).await;
        assert_eq!(text, "old\nne");
        let opts = LogOptions { limit_bytes: Some(5), tail_lines: Some(1), ..Default::default() };
        assert_eq!(read_all(&path, opts).await, "newer");
    }

    #[tokio::test]
    async fn follow_streams_new_lines_until_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        write_lines(&path, &["first"]);
        let (tx, rx) = watch::channel(true);
        let mut r = LogReader::open(&path, rx, LogOptions { follow: true, ..Default::default() }).unwrap();
        assert_eq!(r.next().await.unwrap().unwrap(), b"first\n");

        let mut w = LogWriter::open(path.clone(), 90).unwrap();
        let t0 = std::time::Instant::now();
        w.line(Stream::Stdout, b"second", false).unwrap();
        assert_eq!(r.next().await.unwrap().unwrap(), b"second\n");
        assert!(t0.elapsed() < Duration::from_millis(200), "took {:?}", t0.elapsed());

        // The writer rotates (the file is over 90 bytes now): the follower moves on.
        w.line(Stream::Stdout, b"third", false).unwrap();
        assert!(rotated(&path).exists());
        assert_eq!(r.next().await.unwrap().unwrap(), b"third\n");

        w.line(Stream::Stdout, b"last", false).unwrap();
        tx.send(false).unwrap();
        assert_eq!(r.next().await.unwrap().unwrap(), b"last\n");
        let end = tokio::time::timeout(Duration::from_secs(2), r.next()).await.unwrap().unwrap();
        assert!(end.is_none());
    }

    #[test]
    fn go_time_format_drops_trailing_zeros() {
        let t = |s: &str| go_rfc3339_nano(s.parse().unwrap());
        assert_eq!(t("2024-01-02T03:04:05.123456789Z"), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(t("2024-01-02T03:04:05.100Z"), "2024-01-02T03:04:05.1Z");
        assert_eq!(t("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z");
    }
}
