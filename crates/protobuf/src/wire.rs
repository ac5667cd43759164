//! The protobuf wire format: keys, varints, fixed-width and length-delimited values.
//!
//! Hand-written rather than pulling in prost: the decoder is driven by a runtime table, so all it
//! needs is a cursor that reads one value at a time and can skip what it does not know.

use crate::DecodeError;

/// Wire types (the low three bits of a key).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

fn malformed(reason: &str) -> DecodeError {
    DecodeError::Malformed(reason.to_string())
}

/// A cursor over one message's bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next field's (tag, wire type), or `None` at the end of the message.
    pub fn key(&mut self) -> Result<Option<(u32, u8)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| malformed("field number out of range"))?;
        if tag == 0 {
            return Err(malformed("field number 0"));
        }
        Ok(Some((tag, (key & 7) as u8)))
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(malformed("truncated or overlong varint"))
    }

    pub fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let (bytes, rest) = self.buf.split_first_chunk::<8>().ok_or_else(|| malformed("truncated fixed64"))?;
        self.buf = rest;
        Ok(u64::from_le_bytes(*bytes))
    }

    fn fixed32(&mut self) -> Result<u32, DecodeError> {
        let (bytes, rest) = self.buf.split_first_chunk::<4>().ok_or_else(|| malformed("truncated fixed32"))?;
        self.buf = rest;
        Ok(u32::from_le_bytes(*bytes))
    }

    /// A length-delimited value (string, bytes, message, packed scalars).
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.buf.len())
            .ok_or_else(|| malformed("length past the end of the message"))?;
        let (value, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(value)
    }

    /// Skips a value of a field the decoder does not know.
    pub fn skip(&mut self, wire_type: u8) -> Result<(), DecodeError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.fixed32().map(drop),
            // Groups (3, 4) are proto1-era; no Kubernetes message uses them.
            _ => Err(malformed("unsupported wire type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_lengths() {
        let mut r = Reader::new(&[0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i']);
        assert_eq!(r.key().unwrap(), Some((1, VARINT)));
        assert_eq!(r.varint().unwrap(), 150);
        assert_eq!(r.key().unwrap(), Some((2, LEN)));
        assert_eq!(r.bytes().unwrap(), b"hi");
        assert_eq!(r.key().unwrap(), None);
    }

    #[test]
    fn truncation_is_an_error() {
        assert!(Reader::new(&[0x96]).varint().is_err());
        assert!(Reader::new(&[0x05, b'a']).bytes().is_err());
        assert!(Reader::new(&[0x00]).key().is_err());
        assert!(Reader::new(&[1, 2, 3]).fixed64().is_err());
    }
}
