//! Resource amounts as the scheduler counts them: milli-CPU, bytes, pod slots and extended
//! resources, and a pod's effective request computed the way upstream's `PodRequests` does it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_api::quantity::Quantity as Parsed;

/// CPU assumed for a container without a request when spreading load (upstream's
/// `DefaultMilliCPURequest`); only scoring uses it, never fitting.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed likewise (`DefaultMemoryRequest`, 200 MB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Pod slots; only meaningful for a node's allocatable.
    pub pods: i64,
    /// Extended resources (`example.com/gpu`, hugepages-*), in their integer units.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// From a resource list such as `requests`, `allocatable` or `overhead`.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list {
            let Ok(q) = Parsed::parse(&q.0) else { continue };
            match name.as_str() {
                "cpu" => r.milli_cpu = q.milli_value(),
                "memory" => r.memory = q.value(),
                "ephemeral-storage" => r.ephemeral_storage = q.value(),
                "pods" => r.pods = q.value(),
                other if is_scalar(other) => {
                    r.scalar.insert(other.to_string(), q.value());
                }
                _ => {}
            }
        }
        r
    }

    pub fn add(&mut self, o: &Resource) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        self.pods += o.pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    pub fn sub(&mut self, o: &Resource) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        self.pods -= o.pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Each amount raised to at least `o`'s.
    pub fn max_with(&mut self, o: &Resource) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0 && self.ephemeral_storage == 0 && self.scalar.values().all(|v| *v == 0)
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.get(name).copied().unwrap_or(0)
    }
}

/// Extended resources and hugepages are counted; other names (storage classes' quota names,
/// typos) are not resources a node offers.
fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("attachable-volumes-") || name.contains('/')
}

/// A container's requests; a missing request defaults to the limit, as API defaulting does.
fn container_requests(r: Option<&ResourceRequirements>) -> Resource {
    let Some(r) = r else { return Resource::default() };
    let mut merged = r.limits.clone().unwrap_or_default();
    if let Some(req) = &r.requests {
        merged.extend(req.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Resource::from_list(&merged)
}

/// Like [`container_requests`] but with the scoring defaults for a missing cpu or memory.
fn container_non_zero(c: &Container) -> (i64, i64) {
    let r = container_requests(c.resources.as_ref());
    let has = |name: &str| {
        c.resources.as_ref().is_some_and(|r| {
            r.requests.as_ref().is_some_and(|m| m.contains_key(name))
                || r.limits.as_ref().is_some_and(|m| m.contains_key(name))
        })
    };
    let cpu = if has("cpu") { r.milli_cpu } else { DEFAULT_MILLI_CPU_REQUEST };
    let mem = if has("memory") { r.memory } else { DEFAULT_MEMORY_REQUEST };
    (cpu, mem)
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// What a pod asks of a node: the sum of its containers and sidecars, or the largest init step
/// if that is more, plus the pod overhead.
pub fn pod_requests(spec: &PodSpec) -> Resource {
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c.resources.as_ref()));
    }
    let mut sidecars = Resource::default();
    let mut init_peak = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c.resources.as_ref());
        let step = if is_sidecar(c) {
            reqs.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut step = own;
            step.add(&sidecars);
            step
        };
        init_peak.max_with(&step);
    }
    reqs.max_with(&init_peak);
    if let Some(overhead) = &spec.overhead {
        reqs.add(&Resource::from_list(overhead));
    }
    reqs
}

/// cpu and memory with the defaults for containers that ask for none, for spreading scores.
pub fn pod_non_zero_requests(spec: &PodSpec) -> (i64, i64) {
    let (mut cpu, mut mem) = (0, 0);
    for c in &spec.containers {
        let (c, m) = container_non_zero(c);
        cpu += c;
        mem += m;
    }
    let (mut sc, mut sm, mut peak_c, mut peak_m) = (0, 0, 0, 0);
    for c in spec.init_containers.iter().flatten() {
        let (oc, om) = container_non_zero(c);
        if is_sidecar(c) {
            cpu += oc;
            mem += om;
            sc += oc;
            sm += om;
            peak_c = peak_c.max(sc);
            peak_m = peak_m.max(sm);
        } else {
            peak_c = peak_c.max(oc + sc);
            peak_m = peak_m.max(om + sm);
        }
    }
    cpu = cpu.max(peak_c);
    mem = mem.max(peak_m);
    if let Some(o) = &spec.overhead {
        let o = Resource::from_list(o);
        cpu += o.milli_cpu;
        mem += o.memory;
    }
    (cpu, mem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn init_containers_count_as_their_peak_not_their_sum() {
        let s = spec(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}}],
            "initContainers": [
                {"name": "i1", "resources": {"requests": {"cpu": "500m"}}},
                {"name": "i2", "resources": {"requests": {"cpu": "300m", "memory": "2Gi"}}}
            ]
        }));
        let r = pod_requests(&s);
        assert_eq!(r.milli_cpu, 500);
        assert_eq!(r.memory, 2 << 30);
    }

    #[test]
    fn sidecars_add_to_the_containers_and_to_later_init_steps() {
        let s = spec(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "250m"}}}
            ],
            "overhead": {"cpu": "10m"}
        }));
        // containers 100 + sidecar 200 = 300 vs init step 250 + 200 = 450; plus overhead.
        assert_eq!(pod_requests(&s).milli_cpu, 460);
    }

    #[test]
    fn limits_stand_in_for_missing_requests_and_defaults_only_for_scoring() {
        let s = spec(json!({"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "example.com/gpu": "2"}}},
            {"name": "b"}
        ]}));
        let r = pod_requests(&s);
        assert_eq!((r.milli_cpu, r.scalar("example.com/gpu")), (1000, 2));
        assert_eq!(pod_non_zero_requests(&s), (1100, 2 * DEFAULT_MEMORY_REQUEST));
    }
}
