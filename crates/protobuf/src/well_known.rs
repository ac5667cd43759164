//! Messages whose JSON form is not an object of their fields.
//!
//! Go gives these types custom JSON marshallers (times as RFC 3339 strings, quantities and
//! int-or-strings as scalars, raw extensions as embedded JSON, the JSON-schema unions as whichever
//! side is set), so their protobuf fields are turned into those forms here. `None` means the
//! value is unset and the field is left out.

use base64::Engine as _;
use serde_json::Value;

use crate::DecodeError;
use crate::wire::{LEN, Reader, VARINT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnown {
    /// meta/v1 Time: RFC 3339 in whole seconds.
    Time,
    /// meta/v1 MicroTime: RFC 3339 with microseconds.
    MicroTime,
    /// meta/v1 Duration: Go's `time.Duration` string.
    Duration,
    /// api/resource Quantity: its canonical string.
    Quantity,
    /// util/intstr IntOrString: a number or a string.
    IntOrString,
    /// runtime RawExtension, meta/v1 FieldsV1, apiextensions JSON: `raw` holds JSON.
    RawJson,
    /// apiextensions JSONSchemaPropsOrArray: a schema or a list of schemas.
    SchemaOrArray,
    /// apiextensions JSONSchemaPropsOrBool: a schema or a boolean.
    SchemaOrBool,
    /// apiextensions JSONSchemaPropsOrStringArray: a list of property names or a schema.
    SchemaOrStringArray,
}

impl WellKnown {
    pub fn from_proto(full_name: &str) -> Option<Self> {
        const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";
        const APIEXT: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.";
        if let Some(name) = full_name.strip_prefix(META) {
            return match name {
                "Time" => Some(Self::Time),
                "MicroTime" => Some(Self::MicroTime),
                "Duration" => Some(Self::Duration),
                "FieldsV1" => Some(Self::RawJson),
                _ => None,
            };
        }
        if let Some(name) = full_name.strip_prefix(APIEXT) {
            return match name {
                "Json" => Some(Self::RawJson),
                "JsonSchemaPropsOrArray" => Some(Self::SchemaOrArray),
                "JsonSchemaPropsOrBool" => Some(Self::SchemaOrBool),
                "JsonSchemaPropsOrStringArray" => Some(Self::SchemaOrStringArray),
                _ => None,
            };
        }
        match full_name {
            "k8s.io.apimachinery.pkg.api.resource.Quantity" => Some(Self::Quantity),
            "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Some(Self::IntOrString),
            "k8s.io.apimachinery.pkg.runtime.RawExtension" => Some(Self::RawJson),
            _ => None,
        }
    }
}

/// The fields of a well-known message, read generically: they are all small and flat.
#[derive(Default)]
pub struct Fields<'a> {
    pub ints: [Option<u64>; 4],
    pub bytes: [Option<&'a [u8]>; 4],
    /// Every occurrence of field 2 (the repeated side of the schema unions).
    pub repeated_2: Vec<&'a [u8]>,
}

pub fn read_fields(buf: &[u8]) -> Result<Fields<'_>, DecodeError> {
    let mut f = Fields::default();
    let mut r = Reader::new(buf);
    while let Some((tag, wire_type)) = r.key()? {
        let slot = usize::try_from(tag).ok().filter(|&t| t < 4);
        match (slot, wire_type) {
            (Some(t), VARINT) => f.ints[t] = Some(r.varint()?),
            (Some(t), LEN) => {
                let b = r.bytes()?;
                if t == 2 {
                    f.repeated_2.push(b);
                }
                f.bytes[t] = Some(b);
            }
            _ => r.skip(wire_type)?,
        }
    }
    Ok(f)
}

fn malformed(reason: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(reason.into())
}

fn string(bytes: Option<&[u8]>) -> String {
    String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned()
}

/// Time: { 1: seconds, 2: nanos }. Go's zero time is sent as an empty message and means unset; an
/// explicit all-zero message is treated the same. Nanoseconds are dropped, as Go's decoder does
/// (the JSON form has whole seconds).
pub fn time(buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let f = read_fields(buf)?;
    let (seconds, nanos) = (f.ints[1].unwrap_or(0) as i64, f.ints[2].unwrap_or(0) as i32);
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let ts = jiff::Timestamp::from_second(seconds).map_err(|_| malformed("time out of range"))?;
    Ok(Some(Value::String(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())))
}

/// MicroTime: like [`time`] but keeping microseconds, always six digits (Go's `RFC3339Micro`).
pub fn micro_time(buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let f = read_fields(buf)?;
    let (seconds, nanos) = (f.ints[1].unwrap_or(0) as i64, f.ints[2].unwrap_or(0) as i32);
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let ts = jiff::Timestamp::new(seconds, nanos).map_err(|_| malformed("time out of range"))?;
    Ok(Some(Value::String(ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())))
}

/// Duration: { 1: nanoseconds }.
pub fn duration(buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let f = read_fields(buf)?;
    Ok(Some(Value::String(go_duration(f.ints[1].unwrap_or(0) as i64))))
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration(nanos: i64) -> String {
    let mut u = nanos.unsigned_abs();
    let sign = if nanos < 0 { "-" } else { "" };
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        // Below a second Go switches to the largest unit that keeps an integer part.
        let (unit, prec) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let scale = 10u64.pow(prec);
        return format!("{sign}{}{}{unit}", u / scale, fraction(u % scale, prec as usize));
    }
    let frac = fraction(u % 1_000_000_000, 9);
    u /= 1_000_000_000;
    let (h, m, s) = (u / 3600, (u / 60) % 60, u % 60);
    match (h, m) {
        (0, 0) => format!("{sign}{s}{frac}s"),
        (0, _) => format!("{sign}{m}m{s}{frac}s"),
        _ => format!("{sign}{h}h{m}m{s}{frac}s"),
    }
}

/// `.123` for the `digits`-digit fraction `value`, trailing zeros dropped; empty for zero.
fn fraction(value: u64, digits: usize) -> String {
    if value == 0 {
        return String::new();
    }
    let s = format!("{value:0digits$}");
    format!(".{}", s.trim_end_matches('0'))
}

/// Quantity: { 1: string }. Go always writes the string; a missing one is the zero quantity.
pub fn quantity(buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let f = read_fields(buf)?;
    let s = string(f.bytes[1]);
    Ok(Some(Value::String(if s.is_empty() { "0".into() } else { s })))
}

/// IntOrString: { 1: type (0 int, 1 string), 2: intVal, 3: strVal }.
pub fn int_or_string(buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let f = read_fields(buf)?;
    Ok(Some(match f.ints[1].unwrap_or(0) {
        1 => Value::String(string(f.bytes[3])),
        _ => Value::from(f.ints[2].unwrap_or(0) as i32),
    }))
}

/// The `raw` bytes (field 1) of RawExtension, FieldsV1 and apiextensions JSON, as JSON. Empty
/// means unset. (A raw nested protobuf object is handled by the caller, which can recurse.)
pub fn raw_bytes(buf: &[u8]) -> Result<&[u8], DecodeError> {
    Ok(read_fields(buf)?.bytes[1].unwrap_or_default())
}

pub fn raw_json(raw: &[u8]) -> Result<Option<Value>, DecodeError> {
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw).map(Some).map_err(|e| malformed(format!("embedded raw JSON: {e}")))
}

/// The JSON-schema unions, given a decoder for the nested JSONSchemaProps. They follow the Go
/// types' `MarshalJSON`.
pub fn schema_union(
    kind: WellKnown,
    buf: &[u8],
    schema: &mut dyn FnMut(&[u8]) -> Result<Value, DecodeError>,
) -> Result<Option<Value>, DecodeError> {
    let f = read_fields(buf)?;
    match kind {
        // { 1: schema, 2: repeated JSONSchemas }: the list when non-empty, else the schema.
        WellKnown::SchemaOrArray => {
            if !f.repeated_2.is_empty() {
                let items = f.repeated_2.iter().map(|b| schema(b)).collect::<Result<Vec<_>, _>>()?;
                return Ok(Some(Value::Array(items)));
            }
            f.bytes[1].map(&mut *schema).transpose()
        }
        // { 1: allows, 2: schema }: the schema when set, else the boolean.
        WellKnown::SchemaOrBool => match f.bytes[2] {
            Some(b) => schema(b).map(Some),
            None => Ok(Some(Value::Bool(f.ints[1].unwrap_or(0) != 0))),
        },
        // { 1: schema, 2: repeated property }: the property list when non-empty, else the schema.
        WellKnown::SchemaOrStringArray => {
            if !f.repeated_2.is_empty() {
                let names = f.repeated_2.iter().map(|b| Value::String(string(Some(b)))).collect();
                return Ok(Some(Value::Array(names)));
            }
            f.bytes[1].map(&mut *schema).transpose()
        }
        _ => unreachable!("schema_union called for {kind:?}"),
    }
}

/// `bytes` fields as Go's JSON encodes `[]byte`: standard base64.
pub fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (-90_000_000_000, "-1m30s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(go_duration(nanos), want, "{nanos}");
        }
    }

    #[test]
    fn times() {
        // seconds = 1767323045 (2026-01-02T03:04:05Z), nanos = 123456789
        let buf = [0x08, 0xa5, 0xeb, 0xdc, 0xca, 0x06, 0x10, 0x95, 0x9a, 0xef, 0x3a];
        assert_eq!(time(&buf).unwrap(), Some(Value::from("2026-01-02T03:04:05Z")));
        assert_eq!(micro_time(&buf).unwrap(), Some(Value::from("2026-01-02T03:04:05.123456Z")));
        assert_eq!(time(&[]).unwrap(), None);
        assert_eq!(micro_time(&[0x08, 0x00]).unwrap(), None);
    }

    #[test]
    fn scalars() {
        assert_eq!(quantity(b"\x0a\x04500m").unwrap(), Some(Value::from("500m")));
        assert_eq!(int_or_string(b"\x08\x00\x10\x50\x1a\x00").unwrap(), Some(Value::from(80)));
        assert_eq!(int_or_string(b"\x08\x01\x10\x00\x1a\x04http").unwrap(), Some(Value::from("http")));
        assert_eq!(raw_json(b"{\"a\":1}").unwrap(), Some(serde_json::json!({"a": 1})));
        assert_eq!(raw_json(b"").unwrap(), None);
        assert!(raw_json(b"{").is_err());
    }
}
