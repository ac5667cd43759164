//! `metadata.managedFields`: which field manager owns which fields, kept on every write so that
//! server-side apply can detect conflicts.

use serde_json::Value;
use skiff_api::resources::ResourceInfo;
use skiff_patch::schema::kind_schema;

/// Paths whose ownership a write to the main resource or to `status` does not track.
pub fn reset_paths(info: &ResourceInfo, subresource: Option<&str>) -> &'static [&'static str] {
    match subresource {
        Some("status") => &["spec"],
        _ if info.has_status() => &["status"],
        _ => &[],
    }
}

/// After a non-apply write, give `manager` the fields it set or changed.
pub fn record_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let Some(schema) = kind_schema(info.group, info.version, info.kind) else { return };
    let now = skiff_api::time::now_rfc3339();
    skiff_patch::apply::record_update(
        old,
        new,
        manager,
        &info.api_version(),
        subresource,
        &now,
        schema,
        reset_paths(info, subresource),
    );
}
