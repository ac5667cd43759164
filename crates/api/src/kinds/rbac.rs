//! RBAC: rules need verbs and either resources with API groups or non-resource URLs; bindings
//! refer to a Role or ClusterRole in `rbac.authorization.k8s.io` and never change their
//! `roleRef`; subjects are users, groups or service accounts (upstream's `pkg/apis/rbac`).

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{dns1123_subdomain, go_quote, go_string_slice, invalid_repr, label_selector};
use crate::names;
use crate::strategy::KindRules;

const GROUP: &str = "rbac.authorization.k8s.io";

fn validate_rules(errs: &mut FieldErrors, rules: &[PolicyRule], namespaced: bool) {
    for (i, r) in rules.iter().enumerate() {
        let p = FieldPath::new("rules").index(i);
        if r.verbs.is_empty() {
            errs.push(FieldError::required(&p.child("verbs"), "verbs must contain at least one value"));
        }
        let urls = r.non_resource_urls.as_deref().unwrap_or_default();
        if !urls.is_empty() {
            let up = p.child("nonResourceURLs");
            if namespaced {
                errs.push(invalid_repr(
                    &up,
                    go_string_slice(Some(urls)),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            let has = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
            if has(&r.api_groups) || has(&r.resources) || has(&r.resource_names) {
                errs.push(invalid_repr(
                    &up,
                    go_string_slice(Some(urls)),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if r.api_groups.as_ref().is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(&p.child("apiGroups"), "resource rules must supply at least one api group"));
        }
        if r.resources.as_ref().is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(&p.child("resources"), "resource rules must supply at least one resource"));
        }
    }
}

fn default_binding(role_ref: &mut RoleRef, subjects: &mut Option<Vec<Subject>>) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = GROUP.to_string();
    }
    for s in subjects.iter_mut().flatten() {
        if s.api_group.as_deref().is_none_or(str::is_empty) && (s.kind == "User" || s.kind == "Group") {
            s.api_group = Some(GROUP.to_string());
        }
    }
}

fn validate_binding(
    errs: &mut FieldErrors,
    role_ref: &RoleRef,
    subjects: &[Subject],
    kinds: &[&str],
    namespaced: bool,
) {
    let rp = FieldPath::new("roleRef");
    if role_ref.api_group != GROUP {
        errs.push(FieldError::not_supported(&rp.child("apiGroup"), role_ref.api_group.as_str(), &[GROUP]));
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errs.push(FieldError::not_supported(&rp.child("kind"), role_ref.kind.as_str(), kinds));
    }
    if role_ref.name.is_empty() {
        errs.push(FieldError::required(&rp.child("name"), ""));
    } else {
        for m in names::is_path_segment_name(&role_ref.name) {
            errs.push(FieldError::invalid(&rp.child("name"), role_ref.name.as_str(), m));
        }
    }
    for (i, s) in subjects.iter().enumerate() {
        let p = FieldPath::new("subjects").index(i);
        if s.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        let group = s.api_group.as_deref().unwrap_or("");
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !s.name.is_empty() {
                    dns1123_subdomain(errs, &s.name, &p.child("name"));
                }
                if !group.is_empty() {
                    errs.push(FieldError::not_supported(&p.child("apiGroup"), group, &[""]));
                }
                if !namespaced && s.namespace.as_deref().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(&p.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if group != GROUP {
                    errs.push(FieldError::not_supported(&p.child("apiGroup"), group, &[GROUP]));
                }
            }
            other => {
                errs.push(FieldError::not_supported(&p.child("kind"), other, &["ServiceAccount", "User", "Group"]))
            }
        }
    }
}

fn role_ref_unchanged(errs: &mut FieldErrors, new: &RoleRef, old: &RoleRef) {
    if new != old {
        let repr = format!(
            "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
            go_quote(&new.api_group),
            go_quote(&new.kind),
            go_quote(&new.name)
        );
        errs.push(invalid_repr(&FieldPath::new("roleRef"), repr, "cannot change roleRef"));
    }
}

impl KindRules for Role {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_rules(&mut errs, self.rules.as_deref().unwrap_or_default(), true);
        errs
    }
}

impl KindRules for ClusterRole {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_rules(&mut errs, self.rules.as_deref().unwrap_or_default(), false);
        if let Some(agg) = &self.aggregation_rule {
            let p = FieldPath::new("aggregationRule").child("clusterRoleSelectors");
            let selectors = agg.cluster_role_selectors.as_deref().unwrap_or_default();
            if selectors.is_empty() {
                errs.push(FieldError::required(
                    &p,
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, s) in selectors.iter().enumerate() {
                label_selector(&mut errs, Some(s), &p.index(i));
            }
        }
        errs
    }
}

impl KindRules for RoleBinding {
    fn default_fields(&mut self) {
        default_binding(&mut self.role_ref, &mut self.subjects);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_binding(
            &mut errs,
            &self.role_ref,
            self.subjects.as_deref().unwrap_or_default(),
            &["Role", "ClusterRole"],
            true,
        );
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        role_ref_unchanged(&mut errs, &self.role_ref, &old.role_ref);
        errs
    }
}

impl KindRules for ClusterRoleBinding {
    fn default_fields(&mut self) {
        default_binding(&mut self.role_ref, &mut self.subjects);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_binding(
            &mut errs,
            &self.role_ref,
            self.subjects.as_deref().unwrap_or_default(),
            &["ClusterRole"],
            false,
        );
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        role_ref_unchanged(&mut errs, &self.role_ref, &old.role_ref);
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(plural: &str, op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("rbac.authorization.k8s.io", "v1", plural).unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    #[test]
    fn rules_need_verbs() {
        let err = admit("roles", Operation::Create, json!({"metadata": {"name": "r", "namespace": "d"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}]}), None).unwrap_err();
        assert_eq!(err, "rules[0].verbs: Required value: verbs must contain at least one value");
        let err = admit("roles", Operation::Create, json!({"metadata": {"name": "r", "namespace": "d"}, "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}), None).unwrap_err();
        assert_eq!(
            err,
            r#"rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs"#
        );
    }

    #[test]
    fn bindings_default_and_keep_role_ref() {
        let rb = json!({"metadata": {"name": "b", "namespace": "d"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "d"}]});
        let out = admit("rolebindings", Operation::Create, rb, None).unwrap();
        assert_eq!(out["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(out["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert!(out["subjects"][1].get("apiGroup").is_none());
        let mut new = out.clone();
        new["roleRef"]["name"] = json!("edit");
        let err = admit("rolebindings", Operation::Update, new, Some(&out)).unwrap_err();
        assert_eq!(
            err,
            r#"roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef"#
        );
        let crb = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "x"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]});
        let err = admit("clusterrolebindings", Operation::Create, crb, None).unwrap_err();
        assert_eq!(
            err,
            r#"[roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", subjects[0].namespace: Required value]"#
        );
    }
}
