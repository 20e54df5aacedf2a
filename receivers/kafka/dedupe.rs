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

    /// True the first time `id` is seen within the window.
    pub fn first_time(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            let (_, old) = self.order.pop_front().expect("just seen");
            self.seen.remove(&old);
        }
        if self.seen.contains(id) {
            return false;
        }
        self.seen.insert(id.to_string());
        self.order.push_back((now, id.to_string()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_is_a_duplicate_and_after_it_is_not() {
        let mut dedupe = Dedupe::new(Duration::from_secs(60));
        let start = Instant::now();
        assert!(dedupe.first_time("a", start));
        assert!(!dedupe.first_time("a", start + Duration::from_secs(30)));
        assert!(dedupe.first_time("b", start + Duration::from_secs(30)));
        assert!(dedupe.first_time("a", start + Duration::from_secs(61)));
    }
}
