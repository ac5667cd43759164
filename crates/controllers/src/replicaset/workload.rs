//! What the replica controller needs from ReplicaSets and ReplicationControllers, which it
//! treats alike.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use skiff_api::selector::label::LabelSelector;

use crate::error::Result;
use crate::selector;

pub trait Replicated:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The component name its events carry.
    const COMPONENT: &'static str;
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn selector(&self) -> Result<LabelSelector>;
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The status as JSON, to compare with a freshly computed one.
    fn status_value(&self) -> serde_json::Value;
}

impl Replicated for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn selector(&self) -> Result<LabelSelector> {
        selector::parse(self.spec.as_ref().map(|s| &s.selector))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn status_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.status).unwrap_or_default()
    }
}

impl Replicated for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn selector(&self) -> Result<LabelSelector> {
        // Defaulting copies the template's labels into an absent selector.
        let sel = self.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
        Ok(selector::from_map(&sel))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn status_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.status).unwrap_or_default()
    }
}
