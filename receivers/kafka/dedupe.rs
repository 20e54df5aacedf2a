//! Remembers `record.id`s for a time window, as the reference's idempotent processing does.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

pub struct Dedupe {
    window: Duration,
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Dedupe {
    pub fn new(window: Duration) -> Dedupe {
        Dedupe {
            window,
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

    pub fn remember(&mut self, id: String, now: Instant) {
        if self.seen.insert(id.clone()) {
            self.order.push_back((now, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_is_a_duplicate_and_after_it_is_not() {
        let mut dedupe = Dedupe::new(Duration::from_secs(60));
        let start = Instant::now();
        assert!(!dedupe.seen("a", start));
        dedupe.remember("a".into(), start);
        assert!(dedupe.seen("a", start + Duration::from_secs(30)));
        assert!(!dedupe.seen("b", start + Duration::from_secs(30)));
        assert!(!dedupe.seen("a", start + Duration::from_secs(61)));
    }
}
