//! Which offsets may be committed: per partition, the records handed to the pipelines and not
//! yet settled. The commit point only moves past a record once it and every record before it
//! was delivered (or dead-lettered), so a crash replays from the first unfinished one.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
pub struct Offsets {
    partitions: HashMap<(String, i32), Partition>,
}

#[derive(Debug, Default)]
struct Partition {
    /// Offsets handed over, with whether each is settled.
    pending: BTreeMap<i64, bool>,
    /// The next offset to commit (one past the last finished record), if it moved since the
    /// last commit.
    commit: Option<i64>,
    /// Bumped when the partition is revoked, so late settlements of old work are ignored.
    generation: u64,
    highest_started: Option<i64>,
    /// Offsets up to here were read before and are being read again (a replay, a partition
    /// back after a revocation): they are not duplicates.
    rereading_until: Option<i64>,
    /// A record that must be read again but could not be sought back to yet: nothing past it
    /// is committed meanwhile, so that a restart reads it again at the latest.
    hold: Option<i64>,
}

impl Offsets {
    /// A record handed to the pipelines; returns the generation its settlement must quote, and
    /// whether it is read for the first time in this run (not re-read after a replay).
    pub fn started(&mut self, topic: &str, partition: i32, offset: i64) -> (u64, bool) {
        let entry = self.partition(topic, partition);
        entry.pending.insert(offset, false);
        entry.highest_started = entry.highest_started.max(Some(offset));
        let first_read = entry.rereading_until.is_none_or(|until| offset > until);
        (entry.generation, first_read)
    }

    fn partition(&mut self, topic: &str, partition: i32) -> &mut Partition {
        self.partitions
            .entry((topic.to_string(), partition))
            .or_default()
    }

    /// The earliest record of the partition not finished yet.
    pub fn earliest_unfinished(&self, topic: &str, partition: i32) -> Option<i64> {
        let entry = self.partitions.get(&(topic.to_string(), partition))?;
        entry
            .pending
            .iter()
            .find(|(_, done)| !**done)
            .map(|(offset, _)| *offset)
    }

    /// A record finished: delivered, dead-lettered or deliberately skipped (a duplicate).
    pub fn finished(&mut self, topic: &str, partition: i32, offset: i64, generation: u64) {
        let Some(entry) = self.partitions.get_mut(&(topic.to_string(), partition)) else {
            return;
        };
        if entry.generation != generation {
            return;
        }
        if let Some(done) = entry.pending.get_mut(&offset) {
            *done = true;
        }
        while let Some((&first, &done)) = entry.pending.iter().next() {
            if !done {
                break;
            }
            entry.pending.remove(&first);
            entry.commit = Some(first + 1);
        }
    }

    /// Forgets a partition's unfinished work: it is no longer ours, or it will be read again.
    pub fn abandon(&mut self, topic: &str, partition: i32) {
        let entry = self.partition(topic, partition);
        entry.pending.clear();
        entry.generation += 1;
        entry.rereading_until = entry.rereading_until.max(entry.highest_started);
    }

    /// Holds the partition's commit point at `offset` (or earlier) until `release`.
    pub fn hold(&mut self, topic: &str, partition: i32, offset: i64) {
        let entry = self.partition(topic, partition);
        entry.hold = Some(entry.hold.map_or(offset, |held| held.min(offset)));
    }

    pub fn release(&mut self, topic: &str, partition: i32) {
        if let Some(entry) = self.partitions.get_mut(&(topic.to_string(), partition)) {
            entry.hold = None;
        }
    }

    /// The offsets to commit now, each partition's once; a held partition's no further than
    /// its held record.
    pub fn take_commits(&mut self) -> Vec<(String, i32, i64)> {
        self.partitions
            .iter_mut()
            .filter_map(|((topic, partition), entry)| {
                let offset = entry.commit.take()?;
                let offset = entry.hold.map_or(offset, |held| offset.min(held));
                Some((topic.clone(), *partition, offset))
            })
            .collect()
    }

    /// Records handed over and not yet finished, over every partition.
    pub fn in_flight(&self) -> usize {
        self.partitions
            .values()
            .map(|p| p.pending.values().filter(|done| !**done).count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_point_waits_for_the_earliest_unfinished_record() {
        let mut offsets = Offsets::default();
        let (generation, _) = offsets.started("t", 0, 10);
        offsets.started("t", 0, 11);
        offsets.started("t", 0, 12);
        offsets.finished("t", 0, 11, generation);
        offsets.finished("t", 0, 12, generation);
        assert!(offsets.take_commits().is_empty(), "10 is still out");
        offsets.finished("t", 0, 10, generation);
        assert_eq!(offsets.take_commits(), vec![("t".to_string(), 0, 13)]);
        assert!(offsets.take_commits().is_empty(), "committed once");
    }

    #[test]
    fn work_from_before_a_revocation_is_ignored() {
        let mut offsets = Offsets::default();
        let (old, first) = offsets.started("t", 1, 5);
        assert!(first);
        offsets.abandon("t", 1);
        offsets.finished("t", 1, 5, old);
        assert!(offsets.take_commits().is_empty());
        let (new, first) = offsets.started("t", 1, 5);
        assert!(!first, "read again after the revocation");
        assert_ne!(old, new);
        offsets.finished("t", 1, 5, new);
        assert_eq!(offsets.take_commits(), vec![("t".to_string(), 1, 6)]);
        assert_eq!(offsets.in_flight(), 0);
    }

    #[test]
    fn a_held_partition_commits_no_further_than_the_record_to_read_again() {
        let mut offsets = Offsets::default();
        let (generation, _) = offsets.started("t", 0, 3);
        offsets.abandon("t", 0);
        offsets.hold("t", 0, 3);
        // Reading went on past the lost record, since the seek back failed.
        let generation_after = offsets.started("t", 0, 4).0;
        assert_ne!(generation, generation_after);
        offsets.finished("t", 0, 4, generation_after);
        assert_eq!(offsets.take_commits(), vec![("t".to_string(), 0, 3)]);
        offsets.release("t", 0);
        offsets.started("t", 0, 5);
        offsets.finished("t", 0, 5, generation_after);
        assert_eq!(offsets.take_commits(), vec![("t".to_string(), 0, 6)]);
    }
}
