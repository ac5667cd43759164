//! InterPodAffinity: required pod affinity and anti-affinity (the incoming pod's, and existing
//! pods' anti-affinity against it) filter nodes by topology domain; preferred terms, and
//! existing pods' terms towards the incoming pod, score them.

use std::collections::{BTreeMap, HashMap};

use crate::cache::Cache;
use crate::fnv::FnvMap;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, PreFilterPlugin, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::{NodeData, NodeInfo};
use crate::pod_info::{AffinityTerm, PodInfo, WeightedTerm};

pub const NAME: &str = "InterPodAffinity";
/// Weight of an existing pod's required affinity towards the incoming pod, in scoring.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Matching pods per topology key and value. Nested maps so lookups borrow the node's labels
/// instead of building a key per node.
#[derive(Clone, Default)]
struct Counts(FnvMap<String, FnvMap<String, i64>>);

impl Counts {
    fn bump(&mut self, node: &NodeData, key: &str, delta: i64) {
        let Some(value) = node.labels.get(key) else { return };
        if !self.0.contains_key(key) {
            self.0.insert(key.to_string(), FnvMap::default());
        }
        let values = self.0.get_mut(key).expect("just inserted");
        match values.get_mut(value.as_str()) {
            Some(c) => {
                *c += delta;
                if *c == 0 {
                    values.remove(value.as_str());
                }
            }
            None if delta != 0 => {
                values.insert(value.clone(), delta);
            }
            None => {}
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0.get(key).and_then(|m| m.get(value)).copied().unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.values().all(|m| m.is_empty())
    }
}

fn ns_labels<'a>(cache: &'a Cache, ns: &str) -> Option<&'a BTreeMap<String, String>> {
    cache.namespaces.get(ns)
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, cache: &Cache) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, ns_labels(cache, &pod.namespace)))
}

#[derive(Clone, Default)]
struct FilterState {
    /// Domains where an existing pod's required anti-affinity matches the incoming pod.
    existing_anti: Counts,
    /// Domains with pods matching all of the incoming pod's required affinity terms.
    affinity: Counts,
    /// Domains with pods matching one of the incoming pod's required anti-affinity terms.
    anti: Counts,
    /// Namespaces' labels are read from the cache; kept here so add/remove need no cache.
    incoming_ns_labels: Option<BTreeMap<String, String>>,
    namespaces: HashMap<String, BTreeMap<String, String>>,
}

impl FilterState {
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeData, delta: i64) {
        for t in &other.required_anti_affinity {
            if t.matches(pod, self.incoming_ns_labels.as_ref()) {
                self.existing_anti.bump(node, &t.topology_key, delta);
            }
        }
        let other_ns = self.namespaces.get(&other.namespace);
        if !pod.required_affinity.is_empty() && pod.required_affinity.iter().all(|t| t.matches(other, other_ns)) {
            for t in &pod.required_affinity {
                self.affinity.bump(node, &t.topology_key, delta);
            }
        }
        for t in &pod.required_anti_affinity {
            if t.matches(other, other_ns) {
                self.anti.bump(node, &t.topology_key, delta);
            }
        }
    }
}

pub struct InterPodAffinity;

impl PreFilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, cache: &Cache) -> Status {
        let incoming = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        let existing = cache.pods_with_required_anti_affinity() > 0;
        if !incoming && !existing {
            return Status::skip();
        }
        let mut st = FilterState {
            incoming_ns_labels: ns_labels(cache, &pod.namespace).cloned(),
            namespaces: cache.namespaces.clone(),
            ..FilterState::default()
        };
        for node in cache.nodes() {
            let data = node.data();
            if incoming {
                for other in &node.pods {
                    st.update(pod, other, data, 1);
                }
            } else if node.with_required_anti_affinity > 0 {
                for other in node.pods.iter().filter(|p| !p.required_anti_affinity.is_empty()) {
                    st.update(pod, other, data, 1);
                }
            }
        }
        state.write(NAME, st);
        Status::success()
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(st) = state.read_mut::<FilterState>(NAME) {
            st.update(pod, other, node.data(), 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(st) = state.read_mut::<FilterState>(NAME) {
            st.update(pod, other, node.data(), -1);
        }
    }
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, cache: &Cache) -> Status {
        let Some(st) = state.read::<FilterState>(NAME) else { return Status::success() };
        let data = node.data();
        // Required affinity: every term's domain here must hold a matching pod, unless no pod
        // anywhere matches and the pod matches its own terms (the first of a group).
        let mut pods_exist = true;
        for t in &pod.required_affinity {
            match data.labels.get(&t.topology_key) {
                None => return Status::unresolvable("node(s) didn't match pod affinity rules"),
                Some(v) if st.affinity.get(&t.topology_key, v) <= 0 => pods_exist = false,
                Some(_) => {}
            }
        }
        let first_of_group = st.affinity.is_empty() && matches_all(&pod.required_affinity, pod, cache);
        if !pods_exist && !first_of_group {
            return Status::unresolvable("node(s) didn't match pod affinity rules");
        }
        for t in &pod.required_anti_affinity {
            if let Some(v) = data.labels.get(&t.topology_key)
                && st.anti.get(&t.topology_key, v) > 0
            {
                return Status::unschedulable("node(s) didn't match pod anti-affinity rules");
            }
        }
        if !st.existing_anti.is_empty() && data.labels.iter().any(|(k, v)| st.existing_anti.get(k, v) > 0) {
            return Status::unschedulable("node(s) didn't satisfy existing pods anti-affinity rules");
        }
        Status::success()
    }
}

/// Score per topology key and value.
#[derive(Clone, Default)]
struct ScoreState(HashMap<String, HashMap<String, i64>>);

impl ScoreState {
    fn add(
        &mut self,
        terms: &[WeightedTerm],
        pod: &PodInfo,
        ns: Option<&BTreeMap<String, String>>,
        node: &NodeData,
        sign: i64,
    ) {
        for w in terms {
            self.add_term(&w.term, w.weight as i64 * sign, pod, ns, node);
        }
    }

    fn add_term(
        &mut self,
        t: &AffinityTerm,
        weight: i64,
        pod: &PodInfo,
        ns: Option<&BTreeMap<String, String>>,
        node: &NodeData,
    ) {
        if t.matches(pod, ns)
            && let Some(v) = node.labels.get(&t.topology_key)
        {
            *self.0.entry(t.topology_key.clone()).or_default().entry(v.clone()).or_default() += weight;
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], cache: &Cache) -> Status {
        let preferred = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if !preferred && cache.pods_with_affinity() == 0 {
            return Status::skip();
        }
        let incoming_ns = ns_labels(cache, &pod.namespace);
        let mut st = ScoreState::default();
        for node in cache.nodes() {
            if !preferred && node.with_affinity == 0 {
                continue;
            }
            let data = node.data();
            for other in &node.pods {
                if !preferred && !other.has_affinity() {
                    continue;
                }
                let other_ns = ns_labels(cache, &other.namespace);
                st.add(&pod.preferred_affinity, other, other_ns, data, 1);
                st.add(&pod.preferred_anti_affinity, other, other_ns, data, -1);
                for t in &other.required_affinity {
                    st.add_term(t, HARD_POD_AFFINITY_WEIGHT, pod, incoming_ns, data);
                }
                st.add(&other.preferred_affinity, pod, incoming_ns, data, 1);
                st.add(&other.preferred_anti_affinity, pod, incoming_ns, data, -1);
            }
        }
        state.write(NAME, st);
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        let Some(st) = state.read::<ScoreState>(NAME) else { return 0 };
        let data = node.data();
        st.0.iter().filter_map(|(k, values)| data.labels.get(k).and_then(|v| values.get(v))).sum()
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        if state.read::<ScoreState>(NAME).is_none_or(|s| s.0.is_empty()) {
            return;
        }
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 { ((MAX_NODE_SCORE as f64) * (*s - min) as f64 / diff as f64) as i64 } else { 0 };
        }
    }
}
