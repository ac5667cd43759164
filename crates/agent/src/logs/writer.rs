//! Writes CRI log lines for the shim, rotating the file when it grows too large (the rotated
//! file keeps the name with a `.1` suffix, as kubelet's `containerLogMaxFiles=2` would).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use super::Stream;

/// Lines longer than this are split into `P` parts (containerd uses 16 KiB).
const MAX_LINE: usize = 16 * 1024;

pub struct LogWriter {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl LogWriter {
    /// Open (append to) the log file; it is rotated once it holds `max_bytes`.
    pub fn open(path: PathBuf, max_bytes: u64) -> io::Result<LogWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(LogWriter { path, file, written, max_bytes })
    }

    /// Write one complete line (without its newline) or, with `partial`, a piece of one.
    pub fn line(&mut self, stream: Stream, text: &[u8], partial: bool) -> io::Result<()> {
        for (i, piece) in text.chunks(MAX_LINE).enumerate() {
            let last = (i + 1) * MAX_LINE >= text.len();
            self.record(stream, piece, partial || !last)?;
        }
        if text.is_empty() {
            self.record(stream, b"", partial)?;
        }
        Ok(())
    }

    fn record(&mut self, stream: Stream, text: &[u8], partial: bool) -> io::Result<()> {
        if self.written >= self.max_bytes {
            self.rotate()?;
        }
        let now = jiff::Timestamp::now();
        let mut buf = Vec::with_capacity(text.len() + 48);
        write!(buf, "{} {} {} ", rfc3339_nano(now), stream.name(), if partial { 'P' } else { 'F' })?;
        buf.extend_from_slice(text);
        buf.push(b'\n');
        self.file.write_all(&buf)?;
        self.written += buf.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".1");
        std::fs::rename(&self.path, rotated)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

/// RFC 3339 with nanoseconds, as CRI logs carry (`2024-01-02T03:04:05.123456789Z`).
pub fn rfc3339_nano(t: jiff::Timestamp) -> String {
    format!("{}", t.strftime("%Y-%m-%dT%H:%M:%S.%9fZ"))
}

/// Splits a byte stream into lines for [`LogWriter::line`], holding back an unfinished line
/// until its end arrives (or it grows past the partial-line limit).
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes; `emit(text, partial)` is called for every finished (or too long) line.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8], bool) -> io::Result<()>) -> io::Result<()> {
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                emit(&data[..nl], false)?;
            } else {
                self.pending.extend_from_slice(&data[..nl]);
                emit(&self.pending, false)?;
                self.pending.clear();
            }
            data = &data[nl + 1..];
        }
        self.pending.extend_from_slice(data);
        if self.pending.len() >= MAX_LINE {
            emit(&self.pending, true)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// The stream ended: an unfinished last line is written as it is, without a newline mark.
    pub fn finish(&mut self, emit: impl FnOnce(&[u8], bool) -> io::Result<()>) -> io::Result<()> {
        if !self.pending.is_empty() {
            emit(&self.pending, true)?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_cri_lines_and_splits_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let mut w = LogWriter::open(path.clone(), 1 << 20).unwrap();
        let mut split = LineSplitter::default();
        split.feed(b"hello\nwor", |t, p| w.line(Stream::Stdout, t, p)).unwrap();
        split.feed(b"ld\n", |t, p| w.line(Stream::Stdout, t, p)).unwrap();
        split.feed(b"tail", |t, p| w.line(Stream::Stderr, t, p)).unwrap();
        split.finish(|t, p| w.line(Stream::Stderr, t, p)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(lines, ["stdout F hello", "stdout F world", "stderr P tail"]);
        let ts = text.split(' ').next().unwrap();
        assert!(
            jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", ts).is_ok() || ts.parse::<jiff::Timestamp>().is_ok(),
            "{ts}"
        );
    }

    #[test]
    fn rotates_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::open(path.clone(), 100).unwrap();
        for _ in 0..5 {
            w.line(Stream::Stdout, b"0123456789012345678901234567890123456789", false).unwrap();
        }
        assert!(dir.path().join("0.log.1").exists());
        assert!(std::fs::metadata(&path).unwrap().len() < 200);
    }
}
