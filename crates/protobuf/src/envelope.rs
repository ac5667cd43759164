//! The `k8s\0` + `runtime.Unknown` envelope around every protobuf body.
//!
//! `runtime.Unknown` is { 1: TypeMeta { 1: apiVersion, 2: kind }, 2: raw, 3: contentEncoding,
//! 4: contentType }. Its field numbers are fixed by apimachinery and read directly here rather
//! than through the table: the envelope must be understood before anything else is.

use crate::wire::{LEN, Reader};
use crate::{DecodeError, MAGIC};

/// The parts of the envelope the decoder uses.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub api_version: String,
    pub kind: String,
    pub raw: &'a [u8],
}

pub fn parse(body: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let unknown = body.strip_prefix(MAGIC.as_slice()).ok_or(DecodeError::MissingMagic)?;
    let mut env = Envelope { api_version: String::new(), kind: String::new(), raw: &[] };
    let mut content_encoding = String::new();
    let mut content_type = String::new();
    let mut r = Reader::new(unknown);
    while let Some((tag, wire_type)) = r.key()? {
        if wire_type != LEN {
            r.skip(wire_type)?;
            continue;
        }
        let value = r.bytes()?;
        match tag {
            1 => parse_type_meta(value, &mut env)?,
            2 => env.raw = value,
            3 => content_encoding = utf8(value)?,
            4 => content_type = utf8(value)?,
            _ => {}
        }
    }
    // Client-go leaves both empty: the raw bytes are protobuf, uncompressed.
    if !content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedEnvelope(format!("content encoding {content_encoding:?}")));
    }
    if !content_type.is_empty() && content_type != crate::CONTENT_TYPE {
        return Err(DecodeError::UnsupportedEnvelope(format!("content type {content_type:?}")));
    }
    if env.api_version.is_empty() || env.kind.is_empty() {
        return Err(DecodeError::UnsupportedEnvelope("apiVersion and kind are required".into()));
    }
    Ok(env)
}

fn parse_type_meta(buf: &[u8], env: &mut Envelope<'_>) -> Result<(), DecodeError> {
    let mut r = Reader::new(buf);
    while let Some((tag, wire_type)) = r.key()? {
        match (tag, wire_type) {
            (1, LEN) => env.api_version = utf8(r.bytes()?)?,
            (2, LEN) => env.kind = utf8(r.bytes()?)?,
            _ => r.skip(wire_type)?,
        }
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Malformed("envelope string is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_type_meta_and_raw() {
        let body = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x02\x0a\x00\x1a\x00\x22\x00";
        let env = parse(body).unwrap();
        assert_eq!((env.api_version.as_str(), env.kind.as_str(), env.raw), ("v1", "Namespace", &b"\x0a\x00"[..]));
    }

    #[test]
    fn rejects_bodies_it_cannot_read() {
        assert_eq!(parse(b"{}").unwrap_err(), DecodeError::MissingMagic);
        assert!(matches!(parse(b"k8s\0\x12\x00").unwrap_err(), DecodeError::UnsupportedEnvelope(_)));
        let gzip = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x1a\x04gzip";
        assert!(parse(gzip).unwrap_err().to_string().contains("gzip"));
    }
}
