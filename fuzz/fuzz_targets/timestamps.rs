//! The parsers of timestamps from outside (Kafka records' `timestamp`, the Kafka receiver's
//! `start_at`, config durations) never panic, and the RFC 3339 formatter and parser agree:
//! what one writes the other reads back, to the millisecond it keeps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary::pipeline::dead_letter::{nanos_from_rfc3339, rfc3339_from_nanos};

const MILLI: u64 = 1_000_000;

fuzz_target!(|data: &[u8]| {
    if let Some(first) = data.first_chunk::<8>() {
        let nanos = u64::from_le_bytes(*first);
        let text = rfc3339_from_nanos(nanos);
        assert_eq!(
            nanos_from_rfc3339(&text),
            Some(nanos - nanos % MILLI),
            "{nanos} formats as {text}"
        );
    }
    let text = String::from_utf8_lossy(data);
    if let Some(nanos) = nanos_from_rfc3339(&text) {
        let written = rfc3339_from_nanos(nanos);
        assert_eq!(
            nanos_from_rfc3339(&written),
            Some(nanos - nanos % MILLI),
            "{text:?} reads as {nanos}, written as {written}"
        );
    }
    let _ = humantime::parse_duration(&text);
});
