//! Walks a message's wire bytes by the plan and builds its JSON.
//!
//! Follows Go's encoder where its output differs from what a JSON client sends: Go writes every
//! non-pointer field, so empty strings are dropped (they carry nothing), while integer 0,
//! `false` and empty messages are kept, because for pointer fields (`replicas: 0`,
//! `emptyDir: {}`) they are the value. Maps and repeated fields arrive one entry per occurrence;
//! repeated scalars may be packed.

use serde_json::{Map, Value};

use crate::plan::{FieldPlan, Plan, Shape};
use crate::table::{FieldDef, FieldKind, MapValue};
use crate::well_known::{self, WellKnown};
use crate::wire::{FIXED64, LEN, Reader, VARINT};
use crate::{DecodeError, envelope, names};

/// Deep enough for any real object (JSON schemas nest a few levels per property level); bounded
/// so a hostile body cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

pub struct Decoder<'p> {
    plan: &'p Plan,
    depth: usize,
}

impl<'p> Decoder<'p> {
    pub fn new(plan: &'p Plan) -> Self {
        Decoder { plan, depth: 0 }
    }

    /// Decodes an object message's fields into `out` (merging, as proto does for a message field
    /// that occurs twice).
    pub fn object_into(&mut self, message: usize, buf: &[u8], out: &mut Map<String, Value>) -> Result<(), DecodeError> {
        let plan = self.plan;
        self.fields_into(message, &plan.messages[message].fields, buf, out)
    }

    /// Decodes a message's fields named by `fields` into `out`: the message's own plan, or the
    /// plan of a struct embedded inline in the object `out` belongs to.
    fn fields_into(
        &mut self,
        message: usize,
        fields: &'p [FieldPlan],
        buf: &[u8],
        out: &mut Map<String, Value>,
    ) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let mut r = Reader::new(buf);
        while let Some((tag, wire_type)) = r.key()? {
            let Some((i, def)) = self.plan.field(message, tag) else {
                r.skip(wire_type)?;
                continue;
            };
            match &fields[i] {
                plan @ FieldPlan { json: Some(json), .. } => {
                    self.field(def, json, plan, wire_type, &mut r, out)?;
                }
                FieldPlan { inline: Some(inline), .. } => {
                    expect(def, wire_type, LEN)?;
                    let embedded = def.message.ok_or_else(|| bad_table(def))?;
                    self.fields_into(embedded, inline, r.bytes()?, out)?;
                }
                _ => r.skip(wire_type)?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn field(
        &mut self,
        def: &FieldDef,
        json: &str,
        plan: &FieldPlan,
        wire_type: u8,
        r: &mut Reader<'_>,
        out: &mut Map<String, Value>,
    ) -> Result<(), DecodeError> {
        if let FieldKind::Map(value_kind) = def.kind {
            expect(def, wire_type, LEN)?;
            let (key, value) = self.map_entry(def, value_kind, r.bytes()?)?;
            if let Value::Object(map) = out.entry(json).or_insert_with(|| Value::Object(Map::new())) {
                map.insert(key, value);
            }
            return Ok(());
        }
        if def.repeated {
            let list = out.entry(json).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = list else { return Ok(()) };
            if wire_type == LEN && packable(def.kind) {
                let mut packed = Reader::new(r.bytes()?);
                while !packed.is_empty() {
                    items.push(scalar(def, scalar_wire_type(def.kind), &mut packed)?);
                }
            } else {
                // Unset elements (a zero time in a list) stay as null to keep positions.
                items.push(self.value(def, wire_type, r)?.unwrap_or(Value::Null));
            }
            return Ok(());
        }
        // A message field that occurs again merges into what is there.
        if def.kind == FieldKind::Message
            && let Some(message) = def.message.filter(|&m| self.plan.messages[m].shape == Shape::Object)
        {
            expect(def, wire_type, LEN)?;
            let buf = r.bytes()?;
            let entry = out.entry(json).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(map) = entry {
                self.object_into(message, buf, map)?;
            }
            return Ok(());
        }
        match self.value(def, wire_type, r)? {
            Some(Value::String(s)) if s.is_empty() && !plan.keep_empty_string => {}
            Some(Value::Bool(false)) if plan.omit_zero => {}
            Some(Value::Number(n)) if plan.omit_zero && n.as_i64() == Some(0) => {}
            Some(v) => {
                out.insert(json.to_string(), v);
            }
            None => {}
        }
        Ok(())
    }

    /// One value of a field: a scalar or a message. `None` when unset (a zero time).
    fn value(&mut self, def: &FieldDef, wire_type: u8, r: &mut Reader<'_>) -> Result<Option<Value>, DecodeError> {
        match def.kind {
            FieldKind::Message => {
                expect(def, wire_type, LEN)?;
                let message = def.message.ok_or_else(|| bad_table(def))?;
                self.message(message, r.bytes()?)
            }
            _ => scalar(def, wire_type, r).map(Some),
        }
    }

    /// A message as JSON, whatever its shape.
    pub fn message(&mut self, message: usize, buf: &[u8]) -> Result<Option<Value>, DecodeError> {
        match self.plan.messages[message].shape {
            Shape::Object => {
                let mut map = Map::new();
                self.object_into(message, buf, &mut map)?;
                Ok(Some(Value::Object(map)))
            }
            Shape::StringList => string_list(buf).map(Some),
            Shape::WellKnown(wk) => self.well_known(wk, message, buf),
        }
    }

    fn well_known(&mut self, wk: WellKnown, message: usize, buf: &[u8]) -> Result<Option<Value>, DecodeError> {
        match wk {
            WellKnown::Time => well_known::time(buf),
            WellKnown::MicroTime => well_known::micro_time(buf),
            WellKnown::Duration => well_known::duration(buf),
            WellKnown::Quantity => well_known::quantity(buf),
            WellKnown::IntOrString => well_known::int_or_string(buf),
            WellKnown::RawJson => {
                let raw = well_known::raw_bytes(buf)?;
                // client-go may embed a whole protobuf object (with its own envelope) in a
                // RawExtension; it is decoded like a body, within the same depth budget.
                if raw.starts_with(crate::MAGIC) {
                    return self.body(raw).map(Some);
                }
                well_known::raw_json(raw)
            }
            WellKnown::SchemaOrArray | WellKnown::SchemaOrBool | WellKnown::SchemaOrStringArray => {
                // The unions' schema side is JSONSchemaProps, field 1 or 2 of the union message.
                let schema = self.plan.table.messages[message]
                    .fields
                    .iter()
                    .find(|f| f.name == "schema")
                    .and_then(|f| f.message)
                    .ok_or_else(|| {
                        DecodeError::Malformed("table has no schema field for a JSON-schema union".into())
                    })?;
                well_known::schema_union(wk, buf, &mut |b| Ok(self.message(schema, b)?.unwrap_or(Value::Null)))
            }
        }
    }

    /// A whole body (envelope and object), with `apiVersion` and `kind` from the envelope.
    pub fn body(&mut self, body: &[u8]) -> Result<Value, DecodeError> {
        let env = envelope::parse(body)?;
        let (group, version) = env.api_version.split_once('/').unwrap_or(("", env.api_version.as_str()));
        let Some(message) = names::message_for_kind(self.plan, group, version, &env.kind) else {
            return Err(DecodeError::UnknownKind { api_version: env.api_version, kind: env.kind });
        };
        let mut map = Map::new();
        map.insert("apiVersion".into(), Value::String(env.api_version.clone()));
        map.insert("kind".into(), Value::String(env.kind.clone()));
        self.object_into(message, env.raw, &mut map)?;
        // The envelope is authoritative (`raw` carries no type meta for most kinds anyway).
        map.insert("apiVersion".into(), Value::String(env.api_version));
        map.insert("kind".into(), Value::String(env.kind));
        Ok(Value::Object(map))
    }

    fn map_entry(&mut self, def: &FieldDef, value_kind: MapValue, buf: &[u8]) -> Result<(String, Value), DecodeError> {
        let mut key = String::new();
        let mut value = None;
        let mut r = Reader::new(buf);
        while let Some((tag, wire_type)) = r.key()? {
            match tag {
                1 => {
                    expect(def, wire_type, LEN)?;
                    key = utf8(r.bytes()?);
                }
                2 => {
                    expect(def, wire_type, LEN)?;
                    let b = r.bytes()?;
                    value = Some(match value_kind {
                        // Map values keep empty strings: a label value "" is a value.
                        MapValue::String => Value::String(utf8(b)),
                        MapValue::Bytes => well_known::base64(b),
                        MapValue::Message => {
                            let m = def.message.ok_or_else(|| bad_table(def))?;
                            self.message(m, b)?.unwrap_or(Value::Null)
                        }
                    });
                }
                _ => r.skip(wire_type)?,
            }
        }
        // An absent value is the zero value of its type.
        let value = match (value, value_kind) {
            (Some(v), _) => v,
            (None, MapValue::String | MapValue::Bytes) => Value::String(String::new()),
            (None, MapValue::Message) => {
                let m = def.message.ok_or_else(|| bad_table(def))?;
                self.message(m, &[])?.unwrap_or(Value::Null)
            }
        };
        Ok((key, value))
    }
}

/// A scalar field value.
fn scalar(def: &FieldDef, wire_type: u8, r: &mut Reader<'_>) -> Result<Value, DecodeError> {
    expect(def, wire_type, scalar_wire_type(def.kind))?;
    Ok(match def.kind {
        FieldKind::String => Value::String(utf8(r.bytes()?)),
        FieldKind::Bytes => well_known::base64(r.bytes()?),
        // int32 is sent as a sign-extended varint; its low 32 bits are the value.
        FieldKind::Int32 => Value::from(r.varint()? as i32),
        FieldKind::Int64 => Value::from(r.varint()? as i64),
        FieldKind::Bool => Value::Bool(r.varint()? != 0),
        FieldKind::Double => double(f64::from_bits(r.fixed64()?))?,
        FieldKind::Message | FieldKind::Map(_) => return Err(bad_table(def)),
    })
}

/// Go's JSON writes integral floats without a fraction (`maximum: 10`), so they become integers.
fn double(v: f64) -> Result<Value, DecodeError> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        return Ok(Value::from(v as i64));
    }
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| DecodeError::Malformed("a double is not a finite number".into()))
}

fn scalar_wire_type(kind: FieldKind) -> u8 {
    match kind {
        FieldKind::Int32 | FieldKind::Int64 | FieldKind::Bool => VARINT,
        FieldKind::Double => FIXED64,
        _ => LEN,
    }
}

fn packable(kind: FieldKind) -> bool {
    scalar_wire_type(kind) != LEN
}

fn string_list(buf: &[u8]) -> Result<Value, DecodeError> {
    let mut items = Vec::new();
    let mut r = Reader::new(buf);
    while let Some((tag, wire_type)) = r.key()? {
        match (tag, wire_type) {
            (1, LEN) => items.push(Value::String(utf8(r.bytes()?))),
            _ => r.skip(wire_type)?,
        }
    }
    Ok(Value::Array(items))
}

/// Strings as Go's JSON encoder writes them: invalid UTF-8 becomes U+FFFD.
fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn expect(def: &FieldDef, got: u8, want: u8) -> Result<(), DecodeError> {
    if got == want {
        return Ok(());
    }
    Err(DecodeError::Malformed(format!("field {} ({}) has wire type {got}, expected {want}", def.tag, def.name)))
}

fn bad_table(def: &FieldDef) -> DecodeError {
    DecodeError::Malformed(format!("no message type for field {} ({})", def.tag, def.name))
}
