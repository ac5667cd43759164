//! `metadata.managedFields`: which field manager owns which fields, kept on every write so
//! that server-side apply can detect conflicts.

use serde_json::Value;
use skiff_api::resources::ResourceInfo;

/// After a non-apply write, give `manager` the fields it set or changed.
pub fn record_update(_info: &ResourceInfo, _old: Option<&Value>, _new: &mut Value, _manager: &str, _subresource: Option<&str>) {
    // Filled in by the field-ownership engine (skiff-patch apply).
}
