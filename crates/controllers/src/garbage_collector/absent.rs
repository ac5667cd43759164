//! Owners verified not to exist, remembered for a while so that the many dependents of a
//! deleted owner do not each look it up again (upstream's absentOwnerCache).

use std::collections::{HashSet, VecDeque};

use super::graph::Identity;

/// How many absent owners are remembered; the oldest is forgotten first.
const CAPACITY: usize = 500;

#[derive(Default)]
pub struct AbsentOwners {
    known: HashSet<Identity>,
    order: VecDeque<Identity>,
}

impl AbsentOwners {
    pub fn add(&mut self, id: Identity) {
        if !self.known.insert(id.clone()) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.known.remove(&old);
        }
    }

    pub fn contains(&self, id: &Identity) -> bool {
        self.known.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_absent_owner_is_forgotten_first() {
        let mut a = AbsentOwners::default();
        let id = |i: usize| Identity { uid: i.to_string(), ..Default::default() };
        for i in 0..=CAPACITY {
            a.add(id(i));
        }
        a.add(id(CAPACITY)); // again: no change
        assert!(!a.contains(&id(0)));
        assert!(a.contains(&id(1)));
        assert!(a.contains(&id(CAPACITY)));
    }
}
