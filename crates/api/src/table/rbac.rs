//! RoleBinding and ClusterRoleBinding printers (rbac.authorization.k8s.io/v1). Roles and
//! ClusterRoles have no printer upstream and keep the default table.

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::cells::{name, opt};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Role", "string", "The role granted, as kind/name."),
    AGE,
    Column::new("Users", "string", "Users the role is granted to.").wide(),
    Column::new("Groups", "string", "Groups the role is granted to.").wide(),
    Column::new("ServiceAccounts", "string", "Service accounts the role is granted to, as namespace/name.").wide(),
];

fn binding_row(
    meta: &ObjectMeta,
    role: &RoleRef,
    subjects: Option<&Vec<Subject>>,
    object: &Value,
    now: i64,
) -> Vec<Value> {
    let (users, groups, service_accounts) = subjects_by_kind(subjects.map(Vec::as_slice).unwrap_or_default());
    vec![
        name(meta),
        format!("{}/{}", role.kind, role.name).into(),
        age_cell(object, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        service_accounts.join(", ").into(),
    ]
}

/// Subject names split into users, groups and `namespace/name` service accounts; other kinds
/// are not shown.
fn subjects_by_kind(subjects: &[Subject]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in subjects {
        match s.kind.as_str() {
            "User" => users.push(s.name.clone()),
            "Group" => groups.push(s.name.clone()),
            "ServiceAccount" => sas.push(format!("{}/{}", opt(&s.namespace), s.name)),
            _ => {}
        }
    }
    (users, groups, sas)
}

impl TablePrinter for RoleBinding {
    fn columns() -> &'static [Column] {
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        binding_row(&self.metadata, &self.role_ref, self.subjects.as_ref(), object, now)
    }
}

impl TablePrinter for ClusterRoleBinding {
    fn columns() -> &'static [Column] {
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        binding_row(&self.metadata, &self.role_ref, self.subjects.as_ref(), object, now)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subjects() {
        let rb: RoleBinding = serde_json::from_value(json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                {"kind": "Group", "name": "devs"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
            ],
        }))
        .unwrap();
        let row = rb.row(&json!({}), 0);
        assert_eq!(row[1], "ClusterRole/view");
        assert_eq!(row[3..], [json!("alice, bob"), json!("devs"), json!("tools/ci")]);
    }
}
