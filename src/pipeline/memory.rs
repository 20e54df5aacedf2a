//! `service.memory_limit`: receivers refuse new data (503 / UNAVAILABLE, with a retry hint)
//! while the process's resident memory is near the limit, so that it never grows past it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Refusing starts at this share of the limit, leaving room for what is already in flight.
const SOFT_SHARE: f64 = 0.85;
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// A reading older than this is taken again when a receiver asks: large requests arriving fast
/// can add tens of megabytes between two ticks of the watcher.
const FRESH_FOR: Duration = Duration::from_millis(2);

static OVER_LIMIT: AtomicBool = AtomicBool::new(false);
/// The state the watcher last logged, so each crossing is logged once.
static LOGGED_OVER: AtomicBool = AtomicBool::new(false);
static LIMIT_BYTES: AtomicU64 = AtomicU64::new(0);
static PAGE_SIZE: OnceLock<u64> = OnceLock::new();
static EPOCH: OnceLock<Instant> = OnceLock::new();
/// When the last reading was taken, in microseconds since `EPOCH`.
static READ_AT_MICROS: AtomicU64 = AtomicU64::new(0);

/// Whether receivers should refuse new data now.
pub fn over_limit() -> bool {
    let limit_bytes = LIMIT_BYTES.load(Ordering::Relaxed);
    if limit_bytes == 0 {
        return false;
    }
    let now = micros_since_epoch();
    let read_at = READ_AT_MICROS.load(Ordering::Relaxed);
    if now.saturating_sub(read_at) >= FRESH_FOR.as_micros() as u64
        && READ_AT_MICROS
            .compare_exchange(read_at, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        if let Some(rss) = resident_bytes() {
            let over = is_over(rss, limit_bytes);
            OVER_LIMIT.store(over, Ordering::Relaxed);
            return over;
        }
    }
    OVER_LIMIT.load(Ordering::Relaxed)
}

fn is_over(rss: u64, limit_bytes: u64) -> bool {
    limit_bytes > 0 && rss as f64 >= limit_bytes as f64 * SOFT_SHARE
}

fn micros_since_epoch() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Sets the limit (0 turns the check off); a reload may change it.
pub fn set_limit(limit_bytes: u64) {
    LIMIT_BYTES.store(limit_bytes, Ordering::Relaxed);
    if limit_bytes == 0 {
        OVER_LIMIT.store(false, Ordering::Relaxed);
    }
}

/// Watches the resident set size until `stop`.
pub fn watch(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(rss) = resident_bytes() else {
                continue;
            };
            metrics::gauge!(crate::model::names::RESIDENT_BYTES).set(rss as f64);
            let limit_bytes = LIMIT_BYTES.load(Ordering::Relaxed);
            let over = is_over(rss, limit_bytes);
            OVER_LIMIT.store(over, Ordering::Relaxed);
            if over != LOGGED_OVER.swap(over, Ordering::Relaxed) {
                if over {
                    tracing::warn!(
                        rss,
                        limit = limit_bytes,
                        "memory near the limit: refusing new data"
                    );
                } else {
                    tracing::info!(
                        rss,
                        limit = limit_bytes,
                        "memory back under the limit: taking data again"
                    );
                }
            }
        }
    });
}

/// The process's resident set size, from /proc/self/statm.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    *PAGE_SIZE.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("PAGESIZE")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plausible_resident_size() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1024 * 1024 && rss < 64 * 1024 * 1024 * 1024, "{rss}");
    }
}
