//! DefaultBinder: bind through the `pods/binding` subresource.

use std::sync::Arc;

use futures::future::BoxFuture;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::framework::{BindPlugin, Status};
use crate::pod_info::PodInfo;

pub const NAME: &str = "DefaultBinder";

pub struct DefaultBinder {
    pub client: kube::Client,
}

impl BindPlugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn bind(&self, pod: Arc<PodInfo>, node: String) -> BoxFuture<'static, Status> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        Box::pin(async move {
            let binding = json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let pp = PostParams::default();
            match api.create_subresource::<_, serde_json::Value>("binding", &pod.name, &pp, &binding).await {
                Ok(_) => Status::success(),
                Err(e) => Status::error(format!("binding rejected: {e}")),
            }
        })
    }
}
