//! The pods the controllers cache: only the fields some controller reads.
//!
//! Every controller shares one pod informer, and at 100,000 pods it is most of the server's
//! memory: a k8s-openapi `Pod` takes ~10 KB in memory (every optional field of `PodSpec`,
//! `Container` and `ContainerStatus` takes its room even when absent), more than four times
//! its JSON. [`CachedPod`] has the same shape and field names, so reading code looks the
//! same, but it keeps about a third of that. The watch still sends whole pods; the fields
//! left out are skipped while decoding. Pods the controllers write are full `Pod`s, made
//! from templates; a cached pod is never written back.

use k8s_openapi::api::core::v1::{Affinity, ContainerState, PersistentVolumeClaimVolumeSource, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Deserializer};

/// A pod as the controllers' informer keeps it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct CachedPod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<CachedPodSpec>,
    pub status: Option<CachedPodStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodSpec {
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "exact_vec")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Boxed: most pods have none, and an empty `Affinity` is 144 bytes.
    pub affinity: Option<Box<Affinity>>,
    #[serde(default, deserialize_with = "exact_vec")]
    pub volumes: Option<Vec<CachedVolume>>,
}

/// A volume's name and, for a claim, which one (StatefulSets check their pods' claims).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedVolume {
    pub name: String,
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodStatus {
    pub phase: Option<String>,
    #[serde(default, deserialize_with = "exact_vec")]
    pub conditions: Option<Vec<CachedPodCondition>>,
    #[serde(default, deserialize_with = "exact_vec")]
    pub container_statuses: Option<Vec<CachedContainerStatus>>,
    #[serde(default, deserialize_with = "exact_vec")]
    pub init_container_statuses: Option<Vec<CachedContainerStatus>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_transition_time: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedContainerStatus {
    pub name: String,
    #[serde(default)]
    pub restart_count: i32,
    pub state: Option<ContainerState>,
}

/// A list without the spare capacity a growing `Vec` leaves (JSON arrays do not say
/// their length up front): five pod conditions would otherwise take room for eight.
fn exact_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    let mut v: Option<Vec<T>> = Option::deserialize(d)?;
    if let Some(v) = &mut v {
        v.shrink_to_fit();
    }
    Ok(v)
}

impl k8s_openapi::Resource for CachedPod {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Pod";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "pods";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for CachedPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The cached form of a whole pod, as the informer would decode it (tests make pods from
/// templates and look at them as the controllers would).
#[cfg(test)]
impl From<&k8s_openapi::api::core::v1::Pod> for CachedPod {
    fn from(pod: &k8s_openapi::api::core::v1::Pod) -> CachedPod {
        serde_json::from_value(serde_json::to_value(pod).expect("a pod encodes")).expect("a pod decodes as cached")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_whole_pod_decodes_into_the_fields_controllers_read() {
        let pod: CachedPod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "n1",
                "containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}],
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
                            {"name": "tmp", "emptyDir": {}}],
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                               {"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "True"},
                               {"type": "ContainersReady", "status": "True"}, {"type": "PodReadyToStartContainers", "status": "True"}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 2,
                                       "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}],
                "podIP": "10.42.0.1",
            },
        }))
        .unwrap();
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.tolerations.as_ref().unwrap()[0].key.as_deref(), Some("k"));
        let volumes = spec.volumes.as_ref().unwrap();
        assert_eq!(volumes[0].persistent_volume_claim.as_ref().unwrap().claim_name, "data-web-1");
        assert!(volumes[1].persistent_volume_claim.is_none());
        let status = pod.status.as_ref().unwrap();
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!((conditions.len(), conditions.capacity()), (5, 5), "no spare room kept");
        assert_eq!(status.container_statuses.as_ref().unwrap()[0].restart_count, 2);
    }
}
