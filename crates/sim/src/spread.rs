//! One ticker for a periodic chore of many nodes: each tick hands out the next slice of node
//! indexes so that every node comes up once per period, evenly spread over it.

use std::ops::Range;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

pub struct Spread {
    n: usize,
    slots: usize,
    slot: usize,
    interval: Interval,
}

impl Spread {
    /// `n` items once per `period`, a slice every `tick`. The first slice comes one tick from now.
    pub fn new(n: usize, period: Duration, tick: Duration) -> Spread {
        let slots = (period.as_nanos() / tick.as_nanos().max(1)).max(1) as usize;
        let mut interval = tokio::time::interval_at(Instant::now() + tick, tick);
        // Behind (the API is slow): carry on from where we are rather than burst.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Spread { n, slots, slot: 0, interval }
    }

    /// The slice of slot `slot`: slices cover `0..n` once, with sizes differing by one at most.
    fn slice(n: usize, slots: usize, slot: usize) -> Range<usize> {
        slot * n / slots..(slot + 1) * n / slots
    }

    /// Wait for the next tick and return its slice (possibly empty when n < slots).
    pub async fn next(&mut self) -> Range<usize> {
        self.interval.tick().await;
        let r = Self::slice(self.n, self.slots, self.slot);
        self.slot = (self.slot + 1) % self.slots;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_everything_once() {
        for (n, slots) in [(5000, 100), (3, 100), (100, 100), (7, 3), (0, 10)] {
            let mut covered = Vec::new();
            for slot in 0..slots {
                let r = Spread::slice(n, slots, slot);
                assert!(r.len() <= n.div_ceil(slots));
                covered.extend(r);
            }
            assert_eq!(covered, (0..n).collect::<Vec<_>>());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ticks_walk_the_slots() {
        let mut s = Spread::new(10, Duration::from_secs(1), Duration::from_millis(500));
        let t0 = Instant::now();
        assert_eq!(s.next().await, 0..5);
        assert_eq!(t0.elapsed(), Duration::from_millis(500));
        assert_eq!(s.next().await, 5..10);
        assert_eq!(s.next().await, 0..5);
    }
}
