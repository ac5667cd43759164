//! Matching rules several plugins share, on the scheduler's node summaries: the rules
//! themselves are the API crate's ([`skiff_api::scheduling`]), shared with the controllers.

use k8s_openapi::api::core::v1::{NodeSelectorTerm, PodSpec};
pub use skiff_api::scheduling::{tolerated, untolerated};

use crate::node_info::NodeData;

/// Whether `term` holds for `node` (see [`skiff_api::scheduling::term_matches`]).
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeData) -> bool {
    skiff_api::scheduling::term_matches(term, |k| node.label(k), &node.name)
}

/// `spec.nodeSelector` and the required node affinity terms (ORed) both hold for `node`.
pub fn required_node_affinity_matches(spec: &PodSpec, node: &NodeData) -> bool {
    skiff_api::scheduling::required_node_affinity_matches(spec, |k| node.label(k), &node.name)
}
