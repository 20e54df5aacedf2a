//! Remembers `record.id`s for a time window, as the reference's idempotent processing does,
//! and at most so many of them: ids come from outside, and a busy topic (or one producer
//! writing a fresh id per record at any rate) must not grow the agent without bound.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

pub struct Dedupe {
    window: Duration,
    max_entries: usize,
    seen: HashSet<String>,
    /// Oldest first: both the window and the bound drop from the front.
    order: VecDeque<(Instant, String)>,
}

impl Dedupe {
    pub fn new(window: Duration, max_entries: usize) -> Dedupe {
        Dedupe {
            window,
            max_entries: max_entries.max(1),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `id` was delivered within the window.
    pub fn seen(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            let (_, old) = self.order.pop_front().expect("just seen");
            self.seen.remove(&old);
        }
        self.seen.contains(id)
    }

    /// Remembers `id`; past `max_entries` the oldest is forgotten (a duplicate of it would
    /// then pass, as one older than the window does). Returns how many were forgotten.
    pub fn remember(&mut self, id: String, now: Instant) -> usize {
        if self.seen.insert(id.clone()) {
            self.order.push_back((now, id));
        }
        let mut evicted = 0;
        while self.seen.len() > self.max_entries {
            let Some((_, oldest)) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&oldest);
            evicted += 1;
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_is_a_duplicate_and_after_it_is_not() {
        let mut dedupe = Dedupe::new(Duration::from_secs(60), 100);
        let start = Instant::now();
        assert!(!dedupe.seen("a", start));
        dedupe.remember("a".into(), start);
        assert!(dedupe.seen("a", start + Duration::from_secs(30)));
        assert!(!dedupe.seen("b", start + Duration::from_secs(30)));
        assert!(!dedupe.seen("a", start + Duration::from_secs(61)));
    }

    #[test]
    fn never_holds_more_than_its_bound_and_forgets_the_oldest_first() {
        let mut dedupe = Dedupe::new(Duration::from_secs(3600), 3);
        let start = Instant::now();
        for i in 0..1000 {
            let now = start + Duration::from_millis(i);
            assert!(!dedupe.seen(&format!("id-{i}"), now));
            dedupe.remember(format!("id-{i}"), now);
            assert!(
                dedupe.seen.len() <= 3,
                "{} entries after {i}",
                dedupe.seen.len()
            );
            assert_eq!(dedupe.order.len(), dedupe.seen.len());
        }
        let later = start + Duration::from_secs(1);
        assert!(dedupe.seen("id-999", later) && dedupe.seen("id-997", later));
        assert!(!dedupe.seen("id-996", later), "the oldest went first");
    }
}
