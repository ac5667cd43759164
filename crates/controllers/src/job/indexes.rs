//! Completion indexes of Indexed Jobs: the `batch.kubernetes.io/job-completion-index`
//! annotation of pods, and sets of indexes kept as ordered intervals and written as upstream
//! writes `status.completedIndexes` / `status.failedIndexes` ("0-2,5,7,8").

use std::fmt;

use k8s_openapi::api::batch::v1::Job;

use crate::cached_pod::CachedPod;

/// Annotation and label carrying a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Failures counted against an index's backoffLimitPerIndex so far.
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// Failures of an index that the pod failure policy ignored.
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";

pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// The pod's completion index, if it carries a valid one.
pub fn completion_index(pod: &CachedPod) -> Option<i32> {
    let v = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX)?;
    v.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// The pod's index if it is below `completions` (pods outside the range do not count).
pub fn valid_index(pod: &CachedPod, completions: i32) -> Option<i32> {
    completion_index(pod).filter(|i| *i < completions)
}

/// A non-negative counter annotation; garbage reads as 0, as upstream.
pub fn count_annotation(pod: &CachedPod, key: &str) -> i32 {
    let v = pod.metadata.annotations.as_ref().and_then(|a| a.get(key));
    v.and_then(|v| v.parse::<i64>().ok()).filter(|v| (0..=i64::from(i32::MAX)).contains(v)).unwrap_or(0) as i32
}

/// A set of indexes as sorted, disjoint, non-adjacent inclusive intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Parse the status form, dropping indexes at or above `completions` and skipping
    /// malformed parts (as upstream does with a corrupted status).
    pub fn parse(s: &str, completions: i32) -> Intervals {
        let mut out: Vec<(i32, i32)> = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let mut limits = part.split('-');
            let Some(Ok(first)) = limits.next().map(str::parse::<i32>) else { continue };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                None => first,
                Some(l) => match l.parse::<i32>() {
                    Ok(l) => l.min(completions - 1),
                    Err(_) => continue,
                },
            };
            match out.last_mut() {
                Some(prev) if prev.1 == first - 1 => prev.1 = last,
                _ => out.push((first, last)),
            }
        }
        Intervals(out)
    }

    /// These intervals plus `indexes` (sorted ascending).
    pub fn with_indexes(&self, indexes: &[i32]) -> Intervals {
        self.merge(&Intervals(indexes.iter().map(|&i| (i, i)).collect()))
    }

    /// The union of two sets.
    pub fn merge(&self, other: &Intervals) -> Intervals {
        let mut all: Vec<(i32, i32)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(i32, i32)> = Vec::with_capacity(all.len());
        for iv in all {
            match out.last_mut() {
                Some(last) if iv.0 <= last.1 + 1 => last.1 = last.1.max(iv.1),
                _ => out.push(iv),
            }
        }
        Intervals(out)
    }

    /// How many indexes the set holds.
    pub fn total(&self) -> i32 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, ix: i32) -> bool {
        let i = self.0.partition_point(|(_, last)| *last < ix);
        self.0.get(i).is_some_and(|(first, _)| *first <= ix)
    }

    pub fn intervals(&self) -> &[(i32, i32)] {
        &self.0
    }
}

impl fmt::Display for Intervals {
    /// Upstream's form: two adjacent indexes are written "3,4", longer runs "3-5".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (first, last)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last > first {
                let sep = if *last == first + 1 { "," } else { "-" };
                write!(f, "{sep}{last}")?;
            }
        }
        Ok(())
    }
}

/// The first `count` indexes below `completions` in none of `taken`.
pub fn first_pending(taken: &Intervals, count: usize, completions: i32) -> Vec<i32> {
    let mut out = Vec::with_capacity(count);
    let mut candidate = 0;
    for &(first, last) in taken.intervals() {
        while candidate < completions && out.len() < count && candidate < first {
            out.push(candidate);
            candidate += 1;
        }
        candidate = candidate.max(last + 1);
    }
    while candidate < completions && out.len() < count {
        out.push(candidate);
        candidate += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_are_written_as_upstream_writes_them() {
        let s = Intervals::default().with_indexes(&[0, 1, 2, 5]);
        assert_eq!(s.to_string(), "0-2,5");
        assert_eq!(Intervals::default().with_indexes(&[3, 4]).to_string(), "3,4");
        assert_eq!(Intervals::default().with_indexes(&[1, 3, 4, 5, 9]).to_string(), "1,3-5,9");
        assert_eq!(Intervals::default().to_string(), "");
        assert_eq!(s.total(), 4);
        assert!(s.has(2) && s.has(5) && !s.has(3) && !s.has(6));
    }

    #[test]
    fn parsing_merges_adjacent_parts_and_drops_indexes_out_of_range() {
        assert_eq!(Intervals::parse("0-2,3,5", 10).to_string(), "0-3,5");
        assert_eq!(Intervals::parse("0,1", 10).to_string(), "0,1");
        assert_eq!(Intervals::parse("2-8,9", 5).to_string(), "2-4");
        assert_eq!(Intervals::parse("x,1-y,3", 5).to_string(), "3");
        let merged = Intervals::parse("0-2,8", 10).merge(&Intervals::parse("3,6-7", 10));
        assert_eq!(merged.to_string(), "0-3,6-8");
    }

    #[test]
    fn pending_indexes_skip_what_is_taken() {
        let taken = Intervals::parse("0,2-3", 10);
        assert_eq!(first_pending(&taken, 3, 10), [1, 4, 5]);
        assert_eq!(first_pending(&taken, 5, 5), [1, 4]);
        assert_eq!(first_pending(&Intervals::default(), 2, 4), [0, 1]);
    }
}
