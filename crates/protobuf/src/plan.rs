//! The decoding plan: the wire table joined with the OpenAPI definitions, built once.
//!
//! For every message it records how its JSON looks (an object, a well-known scalar form, or a
//! bare list of strings) and, for objects, the JSON property of each field. Fields without a
//! property in the definition are ignored when decoding: the JSON a client sends could not carry
//! them either.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::names::{DefinitionIndex, json_property};
use crate::table::{self, FieldDef, FieldKind, Table};
use crate::well_known::WellKnown;

/// Singular string fields whose empty value is kept. Go writes every non-pointer string, so an
/// empty one usually just means unset and is dropped; these are pointers where `""` is a value
/// of its own. (definition, property)
const KEEP_EMPTY_STRING: &[(&str, &str)] = &[
    // `""` asks for no storage class; unset means the default class.
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "storageClassName"),
    // `""` asks for no volume attributes class; unset means the default one.
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "volumeAttributesClassName"),
];

/// Integer and boolean fields that are plain values (not pointers) in the Go types, tagged
/// `omitempty`: Go writes their zero on the wire, but zero means unset, and defaulting must
/// still apply (a probe's `timeoutSeconds: 0` becomes 1), so a zero is dropped. Pointer fields
/// (`replicas`, `automountServiceAccountToken`, ...) keep their zero: it is a value.
/// (definition, property)
const OMIT_ZERO: &[(&str, &str)] = &[
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "generation"),
    ("io.k8s.api.core.v1.PodSpec", "hostNetwork"),
    ("io.k8s.api.core.v1.PodSpec", "hostPID"),
    ("io.k8s.api.core.v1.PodSpec", "hostIPC"),
    ("io.k8s.api.core.v1.Container", "stdin"),
    ("io.k8s.api.core.v1.Container", "stdinOnce"),
    ("io.k8s.api.core.v1.Container", "tty"),
    ("io.k8s.api.core.v1.EphemeralContainer", "stdin"),
    ("io.k8s.api.core.v1.EphemeralContainer", "stdinOnce"),
    ("io.k8s.api.core.v1.EphemeralContainer", "tty"),
    ("io.k8s.api.core.v1.ContainerPort", "hostPort"),
    ("io.k8s.api.core.v1.VolumeMount", "readOnly"),
    ("io.k8s.api.core.v1.Probe", "initialDelaySeconds"),
    ("io.k8s.api.core.v1.Probe", "timeoutSeconds"),
    ("io.k8s.api.core.v1.Probe", "periodSeconds"),
    ("io.k8s.api.core.v1.Probe", "successThreshold"),
    ("io.k8s.api.core.v1.Probe", "failureThreshold"),
    ("io.k8s.api.core.v1.ServicePort", "nodePort"),
    ("io.k8s.api.core.v1.ServiceSpec", "healthCheckNodePort"),
    ("io.k8s.api.core.v1.ServiceSpec", "publishNotReadyAddresses"),
    ("io.k8s.api.core.v1.NodeSpec", "unschedulable"),
    ("io.k8s.api.core.v1.Event", "count"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "paused"),
    ("io.k8s.api.apps.v1.ReplicaSetSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.DaemonSetSpec", "minReadySeconds"),
    ("io.k8s.api.apps.v1.DeploymentStatus", "observedGeneration"),
    ("io.k8s.api.apps.v1.DeploymentStatus", "replicas"),
    ("io.k8s.api.apps.v1.DeploymentStatus", "updatedReplicas"),
    ("io.k8s.api.apps.v1.DeploymentStatus", "readyReplicas"),
    ("io.k8s.api.apps.v1.DeploymentStatus", "availableReplicas"),
    ("io.k8s.api.apps.v1.DeploymentStatus", "unavailableReplicas"),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "fullyLabeledReplicas"),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "readyReplicas"),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "availableReplicas"),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "observedGeneration"),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "observedGeneration"),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "readyReplicas"),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "currentReplicas"),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "updatedReplicas"),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "availableReplicas"),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "observedGeneration"),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "updatedNumberScheduled"),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "numberAvailable"),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "numberUnavailable"),
    ("io.k8s.api.batch.v1.JobStatus", "active"),
    ("io.k8s.api.batch.v1.JobStatus", "succeeded"),
    ("io.k8s.api.batch.v1.JobStatus", "failed"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A JSON object of the fields with JSON properties.
    Object,
    WellKnown(WellKnown),
    /// A Go named `[]string` (`ExtraValue`, `Verbs`), which proto wraps as { 1: repeated items }
    /// and JSON writes as the bare list.
    StringList,
}

#[derive(Debug)]
pub struct FieldPlan {
    /// The JSON property; `None` for fields the definition does not have.
    pub json: Option<&'static str>,
    pub keep_empty_string: bool,
    /// A zero integer or false is dropped (see [`OMIT_ZERO`]).
    pub omit_zero: bool,
    /// For a Go struct embedded with `json:",inline"` (`Volume.VolumeSource`,
    /// `Probe.ProbeHandler`, `...LocalObjectReference`): proto nests it as a message field, JSON
    /// spreads its fields into the parent. These are the embedded message's fields, named
    /// against the parent's definition.
    pub inline: Option<Vec<FieldPlan>>,
}

#[derive(Debug)]
pub struct MessagePlan {
    pub shape: Shape,
    /// Parallel to the table's fields.
    pub fields: Vec<FieldPlan>,
}

pub struct Plan {
    pub table: Table,
    pub messages: Vec<MessagePlan>,
    /// Lowercased definition name → message index, for messages with a definition.
    by_definition: HashMap<String, usize>,
}

impl Plan {
    /// The position (in the table's and the plan's field lists) and definition of a message's
    /// field, by tag.
    pub fn field(&self, message: usize, tag: u32) -> Option<(usize, &FieldDef)> {
        let fields = &self.table.messages[message].fields;
        let i = fields.binary_search_by_key(&tag, |f| f.tag).ok()?;
        Some((i, &fields[i]))
    }

    pub fn message_for_definition(&self, definition: &str) -> Option<usize> {
        self.by_definition.get(&definition.to_ascii_lowercase()).copied()
    }
}

/// The process-wide plan, built on first use.
pub fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(build)
}

/// A definition to name fields against.
struct Definition {
    name: &'static str,
    properties: Vec<&'static str>,
}

fn build() -> Plan {
    let schemas = skiff_patch::schema::schemas();
    let index = DefinitionIndex::new(schemas.definitions().keys().map(String::as_str));
    let table = table::parse();
    // Shapes first: naming a field needs to know whether its message is a plain object.
    let mut shapes = Vec::with_capacity(table.messages.len());
    let mut definitions = Vec::with_capacity(table.messages.len());
    for m in &table.messages {
        let definition = index.find(m.package, m.name).and_then(|name| {
            let node = schemas.definition(name)?;
            Some(Definition { name, properties: node.field_names().collect() })
        });
        let shape = match WellKnown::from_proto(&m.full_name()) {
            Some(wk) => Shape::WellKnown(wk),
            None if definition.is_none() && is_string_list(&m.fields) => Shape::StringList,
            None => Shape::Object,
        };
        shapes.push(shape);
        definitions.push(definition);
    }
    let mut by_definition = HashMap::new();
    let mut messages = Vec::with_capacity(table.messages.len());
    for (i, definition) in definitions.iter().enumerate() {
        let fields = match (shapes[i], definition) {
            (Shape::Object, Some(def)) => {
                by_definition.insert(def.name.to_ascii_lowercase(), i);
                name_fields(&table, &shapes, i, def, 0)
            }
            _ => table.messages[i].fields.iter().map(|_| unnamed()).collect(),
        };
        messages.push(MessagePlan { shape: shapes[i], fields });
    }
    Plan { table, messages, by_definition }
}

fn unnamed() -> FieldPlan {
    FieldPlan { json: None, keep_empty_string: false, omit_zero: false, inline: None }
}

/// Names the fields of `message` against `def` (its own definition, or its parent's when it is
/// embedded inline).
fn name_fields(table: &Table, shapes: &[Shape], message: usize, def: &Definition, depth: usize) -> Vec<FieldPlan> {
    let plan_field = |f: &FieldDef| {
        if let Some(json) = json_property(def.properties.iter().copied(), f.name) {
            let keep_empty_string = KEEP_EMPTY_STRING.contains(&(def.name, json));
            let omit_zero = OMIT_ZERO.contains(&(def.name, json));
            return FieldPlan { json: Some(json), keep_empty_string, omit_zero, inline: None };
        }
        // A singular object field without a property of its own is an embedded struct when its
        // fields are properties of this definition. (Fields newer than the definition match
        // nothing and stay ignored.) Embedding is shallow in practice; the bound is a guard.
        let embedded = f.message.filter(|&m| f.kind == FieldKind::Message && !f.repeated && shapes[m] == Shape::Object);
        if let Some(m) = embedded.filter(|_| depth < 4) {
            let inline = name_fields(table, shapes, m, def, depth + 1);
            if inline.iter().any(|p| p.json.is_some() || p.inline.is_some()) {
                return FieldPlan { json: None, keep_empty_string: false, omit_zero: false, inline: Some(inline) };
            }
        }
        unnamed()
    };
    table.messages[message].fields.iter().map(plan_field).collect()
}

fn is_string_list(fields: &[FieldDef]) -> bool {
    matches!(fields, [f] if f.tag == 1 && f.name == "items" && f.kind == FieldKind::String && f.repeated)
}
