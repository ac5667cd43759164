//! Printers for apps/v1 kinds.

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::cells::{
    CONTAINERS, IMAGES, NONE, format_label_selector, format_labels, name, selector_string, template_cells,
};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

const SELECTOR: Column = Column::new("Selector", "string", "Label selector of the pods managed.").wide();

impl TablePrinter for Deployment {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Ready", "string", "Ready replicas out of those wanted."),
            Column::new("Up-to-date", "string", "Replicas updated to the current template."),
            Column::new("Available", "string", "Replicas available to serve."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
            SELECTOR,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let [names, images] = template_cells(Some(&spec.template));
        // Unlike the other workloads, an empty selector prints as an empty cell here.
        let selector = selector_string(Some(&spec.selector)).unwrap_or_else(|()| "<invalid>".to_string());
        vec![
            name(&self.metadata),
            deployment_ready(self).into(),
            json!(status.updated_replicas.unwrap_or(0)),
            json!(status.available_replicas.unwrap_or(0)),
            age_cell(object, now),
            names,
            images,
            selector.into(),
        ]
    }
}

/// `ready/desired`.
fn deployment_ready(d: &Deployment) -> String {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let ready = d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    format!("{ready}/{desired}")
}

impl TablePrinter for ReplicaSet {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Desired", "integer", "Number of replicas wanted."),
            Column::new("Current", "integer", "Number of replicas that exist."),
            Column::new("Ready", "integer", "Number of replicas that are ready."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
            SELECTOR,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let [names, images] = template_cells(spec.template.as_ref());
        vec![
            name(&self.metadata),
            json!(spec.replicas.unwrap_or(0)),
            json!(status.replicas),
            json!(status.ready_replicas.unwrap_or(0)),
            age_cell(object, now),
            names,
            images,
            format_label_selector(Some(&spec.selector)).into(),
        ]
    }
}

impl TablePrinter for StatefulSet {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Ready", "string", "Ready replicas out of those wanted."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let ready = self.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
        let [names, images] = template_cells(Some(&spec.template));
        vec![
            name(&self.metadata),
            format!("{ready}/{}", spec.replicas.unwrap_or(0)).into(),
            age_cell(object, now),
            names,
            images,
        ]
    }
}

impl TablePrinter for DaemonSet {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Desired", "integer", "Number of nodes that should run the daemon pod."),
            Column::new("Current", "integer", "Number of nodes running the daemon pod."),
            Column::new("Ready", "integer", "Number of nodes whose daemon pod is ready."),
            Column::new("Up-to-date", "integer", "Number of nodes running the current template."),
            Column::new("Available", "integer", "Number of nodes whose daemon pod is available."),
            Column::new("Node Selector", "string", "Node labels the daemon pods are limited to."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
            SELECTOR,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let [names, images] = template_cells(Some(&spec.template));
        let node_selector = spec.template.spec.as_ref().and_then(|s| s.node_selector.as_ref());
        vec![
            name(&self.metadata),
            json!(status.desired_number_scheduled),
            json!(status.current_number_scheduled),
            json!(status.number_ready),
            json!(status.updated_number_scheduled.unwrap_or(0)),
            json!(status.number_available.unwrap_or(0)),
            format_labels(node_selector).into(),
            age_cell(object, now),
            names,
            images,
            format_label_selector(Some(&spec.selector)).into(),
        ]
    }
}

impl TablePrinter for ControllerRevision {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Controller", "string", "The object that owns this revision, as kind.group/name."),
            Column::new("Revision", "string", "Revision number of the stored state."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        vec![name(&self.metadata), controller_of(&self.metadata).into(), json!(self.revision), age_cell(object, now)]
    }
}

/// `daemonset.apps/web` for the controlling owner, `<none>` without one.
fn controller_of(meta: &ObjectMeta) -> String {
    let Some(owner) = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true)) else {
        return NONE.to_string();
    };
    let group = match owner.api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let group_kind = if group.is_empty() { owner.kind.clone() } else { format!("{}.{group}", owner.kind) };
    if group_kind.is_empty() { owner.name.clone() } else { format!("{}/{}", group_kind.to_lowercase(), owner.name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ready_and_selector() {
        let d: Deployment = serde_json::from_value(json!({
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        }))
        .unwrap();
        let row = d.row(&json!({}), 0);
        assert_eq!(row[1..4], [json!("2/3"), json!(3), json!(2)]);
        assert_eq!(row[5..], [json!("web,log"), json!("nginx:1,busybox"), json!("app=web")]);
        assert_eq!(deployment_ready(&Deployment::default()), "0/0");
        let empty_selector = Deployment::default().row(&json!({}), 0);
        assert_eq!(empty_selector[7], "");
    }

    #[test]
    fn controller_revision_owner() {
        let meta = |refs: Value| -> ObjectMeta { serde_json::from_value(json!({"ownerReferences": refs})).unwrap() };
        let owner = |api: &str, kind: &str, controller: bool| json!({"apiVersion": api, "kind": kind, "name": "web", "uid": "u", "controller": controller});
        assert_eq!(controller_of(&meta(json!([owner("apps/v1", "StatefulSet", true)]))), "statefulset.apps/web");
        assert_eq!(controller_of(&meta(json!([owner("v1", "Pod", true)]))), "pod/web");
        assert_eq!(controller_of(&meta(json!([owner("apps/v1", "StatefulSet", false)]))), "<none>");
    }
}
