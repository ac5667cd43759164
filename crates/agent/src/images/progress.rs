//! Progress of an import, in bytes, for `skiff images import` on a terminal.

use std::io::{self, Read};

/// How far the import of one archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    /// Bytes of this stage done so far, out of `total`.
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A gzip-compressed archive is decompressed once into the store's temp dir, because its
    /// manifest may come last. Bytes are of the compressed file.
    Decompressing,
    /// Layers are verified and unpacked. Bytes are of the layer blobs in the archive.
    Unpacking,
}

/// Report at most this often (in bytes) so a fast import does not spend its time printing.
const STEP: u64 = 1 << 20;

/// Counts bytes of one stage and reports them now and then.
pub(crate) struct Meter<'a> {
    report: &'a mut dyn FnMut(Progress),
    stage: Stage,
    done: u64,
    total: u64,
    reported: u64,
}

impl<'a> Meter<'a> {
    pub(crate) fn new(report: &'a mut dyn FnMut(Progress), stage: Stage, total: u64) -> Self {
        let mut m = Meter { report, stage, done: 0, total, reported: 0 };
        m.emit();
        m
    }

    pub(crate) fn add(&mut self, n: u64) {
        self.done += n;
        if self.done - self.reported >= STEP {
            self.emit();
        }
    }

    /// The last report of the stage (done = total when it went well).
    pub(crate) fn finish(&mut self) {
        self.emit();
    }

    fn emit(&mut self) {
        self.reported = self.done;
        (self.report)(Progress { stage: self.stage, done: self.done, total: self.total });
    }
}

/// Feeds a [`Meter`] with the bytes read through it.
pub(crate) struct MeteredReader<'m, 'a, R> {
    pub inner: R,
    pub meter: &'m mut Meter<'a>,
}

impl<R: Read> Read for MeteredReader<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.add(n as u64);
        Ok(n)
    }
}
