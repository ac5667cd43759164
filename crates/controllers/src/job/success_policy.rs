//! `spec.successPolicy` of Indexed Jobs: the Job succeeds early once the succeeded indexes
//! satisfy one rule (all of `succeededIndexes`, or `succeededCount` of them, or that many
//! in total).

use k8s_openapi::api::batch::v1::SuccessPolicy;

use super::indexes::Intervals;

/// The SuccessCriteriaMet message if a rule is satisfied by `succeeded`.
pub fn matched(policy: Option<&SuccessPolicy>, completions: i32, succeeded: &Intervals) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let ok = match &rule.succeeded_indexes {
            Some(s) => {
                let required = Intervals::parse(s, completions);
                if required.is_empty() {
                    continue;
                }
                let contained = overlap(&required, succeeded);
                contained == required.total() || rule.succeeded_count.is_some_and(|c| contained >= c)
            }
            None => rule.succeeded_count.is_some_and(|c| succeeded.total() >= c),
        };
        if ok {
            return Some(format!("Matched rules at index {index}"));
        }
    }
    None
}

/// How many indexes of `a` are also in `b`.
fn overlap(a: &Intervals, b: &Intervals) -> i32 {
    let mut n = 0;
    for &(f1, l1) in a.intervals() {
        for &(f2, l2) in b.intervals() {
            n += (l1.min(l2) - f1.max(f2) + 1).max(0);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rules_match_by_indexes_or_count() {
        let p: SuccessPolicy = serde_json::from_value(json!({"rules": [
            {"succeededIndexes": "0,2-4", "succeededCount": 3},
            {"succeededCount": 5},
        ]}))
        .unwrap();
        let s = |v: &str| Intervals::parse(v, 10);
        assert_eq!(matched(Some(&p), 10, &s("0,2")), None);
        assert_eq!(matched(Some(&p), 10, &s("2-3,7")).as_deref(), None);
        assert_eq!(matched(Some(&p), 10, &s("0,3-4")).as_deref(), Some("Matched rules at index 0"));
        assert_eq!(matched(Some(&p), 10, &s("5-9")).as_deref(), Some("Matched rules at index 1"));
        let all: SuccessPolicy = serde_json::from_value(json!({"rules": [{"succeededIndexes": "1-2"}]})).unwrap();
        assert_eq!(matched(Some(&all), 10, &s("1")), None);
        assert_eq!(matched(Some(&all), 10, &s("0-2")).as_deref(), Some("Matched rules at index 0"));
        assert_eq!(matched(None, 10, &s("0-9")), None);
    }
}
