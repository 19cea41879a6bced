//! The bound on one directory's writes in flight (`gateway.max_in_flight_writes_per_directory`):
//! a write holds a [`Permit`] from before it is published until its outcome arrives (or the
//! request goes away), and a write past the bound answers 429 at once. One directory's flood then
//! fills neither the log's partitions nor the projector's batches the other directories share.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

/// Writes in flight, per directory.
#[derive(Debug)]
pub struct InFlight {
    /// 0: no bound.
    bound: u32,
    counts: Mutex<HashMap<Uuid, u32>>,
}

/// One write in flight; dropping it ends the write.
#[derive(Debug)]
pub struct Permit<'a> {
    in_flight: &'a InFlight,
    directory: Uuid,
}

impl InFlight {
    pub fn new(bound: u32) -> InFlight {
        InFlight { bound, counts: Mutex::new(HashMap::new()) }
    }

    /// A permit for one more write of `directory`, or None when it has `bound` in flight.
    pub fn try_acquire(&self, directory: Uuid) -> Option<Permit<'_>> {
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(directory).or_insert(0);
        if self.bound > 0 && *count >= self.bound {
            return None;
        }
        *count += 1;
        Some(Permit { in_flight: self, directory })
    }

    /// Writes of `directory` in flight now.
    pub fn count(&self, directory: Uuid) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.get(&directory).copied().unwrap_or(0)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut counts =
            self.in_flight.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.directory) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.directory);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_directory_gets_at_most_the_bound_and_others_are_not_affected() {
        let in_flight = InFlight::new(2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = in_flight.try_acquire(a).expect("first");
        let _second = in_flight.try_acquire(a).expect("second");
        assert!(in_flight.try_acquire(a).is_none(), "a third write of the same directory");
        assert!(in_flight.try_acquire(b).is_some(), "another directory");
        drop(first);
        assert_eq!(in_flight.count(a), 1);
        assert!(in_flight.try_acquire(a).is_some(), "a write ended, so one more fits");
    }

    #[test]
    fn counts_go_away_when_the_last_write_ends() {
        let in_flight = InFlight::new(1);
        let a = Uuid::new_v4();
        drop(in_flight.try_acquire(a).expect("permit"));
        assert_eq!(in_flight.count(a), 0);
        assert!(in_flight.counts.lock().unwrap().is_empty());
    }

    #[test]
    fn zero_means_no_bound() {
        let in_flight = InFlight::new(0);
        let a = Uuid::new_v4();
        let permits: Vec<_> =
            (0..1000).map(|_| in_flight.try_acquire(a).expect("permit")).collect();
        assert_eq!(in_flight.count(a), 1000);
        drop(permits);
        assert_eq!(in_flight.count(a), 0);
    }
}
