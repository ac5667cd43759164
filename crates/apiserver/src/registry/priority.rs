//! Priority admission, as upstream's `Priority` plugin: a new pod gets `spec.priority` (and
//! `spec.preemptionPolicy`) from the PriorityClass it names, or from the global default class,
//! or 0. A pod may not carry a priority that disagrees with its class.

use serde_json::{Value, json};
use skiff_api::resources::registry;
use skiff_api::{ApiError, Qualified};

use crate::ApiServer;
use crate::cache::raw;

/// What a pod's priority class gives it.
struct Granted {
    class: String,
    value: i64,
    preemption_policy: Option<String>,
}

impl ApiServer {
    /// Set a new pod's priority from its class (`obj` is the served Pod).
    pub(crate) async fn admit_pod_priority(&self, obj: &mut Value) -> Result<(), ApiError> {
        let pods = Qualified::new("", "pods");
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let forbidden = |why: String| ApiError::forbidden(&pods, &name, &why);
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let class_name = spec.get("priorityClassName").and_then(Value::as_str).unwrap_or("").to_string();
        self.cache.wait_fresh().await?;
        let classes = self.priority_classes();
        let granted = if class_name.is_empty() {
            // Several defaults can exist after a race; upstream takes the lowest.
            classes
                .into_iter()
                .filter(|c| c.2)
                .min_by_key(|c| c.1)
                .map(|(class, value, _, preemption_policy)| Granted { class, value, preemption_policy })
        } else {
            match classes.into_iter().find(|c| c.0 == class_name) {
                Some((class, value, _, preemption_policy)) => Some(Granted { class, value, preemption_policy }),
                None => return Err(forbidden(format!("no PriorityClass with name {class_name} was found"))),
            }
        };
        let granted = granted.unwrap_or(Granted { class: String::new(), value: 0, preemption_policy: None });
        if let Some(given) = spec.get("priority").and_then(Value::as_i64)
            && given != granted.value
        {
            return Err(forbidden(format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission \
                 controller computed {} from the given PriorityClass name",
                granted.value
            )));
        }
        if let Some(policy) = &granted.preemption_policy {
            if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
                && given != policy
            {
                return Err(forbidden(format!(
                    "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority \
                     admission controller computed {policy} from the given PriorityClass name"
                )));
            }
            spec.insert("preemptionPolicy".into(), json!(policy));
        }
        if !granted.class.is_empty() {
            spec.insert("priorityClassName".into(), json!(granted.class));
        }
        spec.insert("priority".into(), json!(granted.value));
        Ok(())
    }

    /// (name, value, globalDefault, preemptionPolicy) of every PriorityClass.
    fn priority_classes(&self) -> Vec<(String, i64, bool, Option<String>)> {
        let info = registry().get("scheduling.k8s.io", "v1", "priorityclasses").expect("priorityclasses are served");
        let cache = self.cache.resource(info).read();
        cache
            .objects
            .values()
            .map(|o| {
                // Every pod create reads these: parse the three fields, not whole objects.
                let members = raw::Members::of(o.json());
                let field = |name: &str| -> Value {
                    members.find([name]).and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null)
                };
                (
                    o.name.to_string(),
                    field("value").as_i64().unwrap_or(0),
                    field("globalDefault").as_bool().unwrap_or(false),
                    field("preemptionPolicy").as_str().map(String::from),
                )
            })
            .collect()
    }
}
