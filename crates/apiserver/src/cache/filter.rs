//! Which objects a list or watch selects: namespace, label selector and field selector.

use skiff_api::ApiError;
use skiff_api::resources::ResourceInfo;
use skiff_api::selector::{FieldSelector, LabelSelector};

use super::object::CachedObject;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    /// (JSON path, value, negate), resolved from the kind's field labels.
    fields: Vec<(&'static str, String, bool)>,
}

impl Filter {
    /// A filter for `info`; field labels the kind does not support are a 400, as upstream.
    pub fn new(
        info: &ResourceInfo,
        namespace: Option<&str>,
        labels: LabelSelector,
        fields: &FieldSelector,
    ) -> Result<Self, ApiError> {
        let mut resolved = Vec::new();
        for r in &fields.requirements {
            let Some(path) = info.field_path(&r.field) else {
                return Err(ApiError::bad_request(format!("field label not supported: {}", r.field)));
            };
            resolved.push((path, r.value.clone(), r.negate));
        }
        Ok(Filter { namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string), labels, fields: resolved })
    }

    pub fn matches(&self, o: &CachedObject) -> bool {
        if let Some(ns) = &self.namespace
            && &*o.namespace != ns
        {
            return false;
        }
        self.fields.iter().all(|(path, value, negate)| (o.field(path) == value) != *negate)
            && self.labels.matches(|k| o.label(k))
    }

    /// Narrow to one object name (a watch on `.../<resource>/<name>`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.fields.push(("metadata.name", name.to_string(), false));
        self
    }
}
