//! Record ids: random UUIDv4 strings, so that consumers can drop the duplicates that
//! at-least-once delivery allows; and jitter for retries.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
    static DERIVED: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// Runs `f` with record ids derived from `seed`, in the order `f` asks for them: a batch that
/// a disk queue delivers again after a restart gets the ids it had the first time, so that
/// consumers can drop the duplicate.
pub fn with_ids_from<T>(seed: Option<u64>, f: impl FnOnce() -> T) -> T {
    let Some(seed) = seed else {
        return f();
    };
    let outer = DERIVED.with(|d| d.replace(Some((seed, 0))));
    let result = f();
    DERIVED.with(|d| d.set(outer));
    result
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Two words for an id: derived when `with_ids_from` is in force, random otherwise.
fn id_words() -> (u64, u64) {
    let derived = DERIVED.with(|d| {
        let (seed, n) = d.get()?;
        d.set(Some((seed, n + 1)));
        Some((
            splitmix(seed ^ splitmix(2 * n)),
            splitmix(seed ^ splitmix(2 * n + 1)),
        ))
    });
    derived.unwrap_or_else(|| (next(), next()))
}

fn seed() -> u64 {
    // RandomState is seeded from the OS per process and varies per instance.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id() as u64);
    hasher.finish() | 1
}

/// A uniformly distributed number in [0, 1), for jitter.
pub fn unit_random() -> f64 {
    (next() >> 11) as f64 / (1u64 << 53) as f64
}

fn next() -> u64 {
    STATE.with(|state| {
        // xorshift64*
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

pub fn new_record_id() -> String {
    let (high, low) = id_words();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_repeat_for_the_same_seed_and_differ_otherwise() {
        let three = |seed| {
            with_ids_from(Some(seed), || {
                [new_record_id(), new_record_id(), new_record_id()]
            })
        };
        assert_eq!(three(7), three(7));
        assert_ne!(three(7), three(8));
        let [a, b, _] = three(7);
        assert_ne!(a, b);
        assert_ne!(new_record_id(), three(7)[0], "random again outside");
    }

    #[test]
    fn ids_are_uuid_v4_and_distinct() {
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_record_id()).collect();
        assert_eq!(ids.len(), 1000);
        let id = ids.iter().next().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }
}
