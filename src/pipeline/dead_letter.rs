//! Items a stage refused, carried with the reason to the pipeline's dead-letter exporters, and
//! their record in the platform's DLQ message format.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::batch::{Payload, Signal};

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetters {
    /// The signal of the refused items.
    pub signal: Signal,
    pub letters: Vec<DeadLetter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// One item, with its resource and scope, as a request of its signal.
    pub item: Payload,
    pub error: String,
    /// `ValidationError`, `RecordTooLarge`, `KafkaDeliveryError`, ...
    pub error_type: &'static str,
    /// The component that refused the item (`validate/gds`) and its pipeline.
    pub stage: String,
    pub pipeline: String,
    pub rule: Option<String>,
    pub field: Option<String>,
    pub value: Option<String>,
    /// Where the item was in Kafka (or was going), for items refused after reaching it.
    pub original: Option<KafkaCoordinates>,
    /// The item as it was encoded, when that is not an OTLP request (a gds_json record).
    pub original_value: Option<String>,
    /// The Kafka consumer that read the record, for items refused after consuming it.
    pub consumer_id: Option<String>,
    /// The message fields that hold base64 rather than text: bytes read from outside that were
    /// not UTF-8 (see `text_or_base64`).
    pub base64_fields: Vec<&'static str>,
    pub retry_count: u32,
    pub timestamp: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaCoordinates {
    pub topic: String,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub key: Option<String>,
}

/// The reference's DLQ message, plus where in the agent the item was refused.
#[derive(Debug, Serialize)]
pub struct DlqMessage<'a> {
    pub original_topic: Option<&'a str>,
    pub original_partition: Option<i32>,
    pub original_offset: Option<i64>,
    pub original_key: Option<&'a str>,
    /// The item as an OTLP/JSON request of its signal.
    pub original_value: String,
    pub error: &'a str,
    pub error_type: &'a str,
    pub timestamp: String,
    pub retry_count: u32,
    pub consumer_id: Option<&'a str>,
    pub signal: &'a str,
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub rule: Option<&'a str>,
    pub field: Option<&'a str>,
    pub value: Option<&'a str>,
    /// Which of the fields above are base64, because the bytes they hold are not UTF-8.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub base64_fields: &'a [&'static str],
}

impl DeadLetter {
    /// A dead letter refused now, with no rule, Kafka coordinates or retries to report; callers
    /// fill in the fields that apply.
    pub fn new(
        item: Payload,
        error: impl Into<String>,
        error_type: &'static str,
        stage: impl Into<String>,
        pipeline: impl Into<String>,
    ) -> DeadLetter {
        DeadLetter {
            item,
            error: error.into(),
            error_type,
            stage: stage.into(),
            pipeline: pipeline.into(),
            rule: None,
            field: None,
            value: None,
            original: None,
            original_value: None,
            consumer_id: None,
            base64_fields: Vec::new(),
            retry_count: 0,
            timestamp: SystemTime::now(),
        }
    }

    pub fn message(&self) -> DlqMessage<'_> {
        let original = self.original.as_ref();
        DlqMessage {
            original_topic: original.map(|o| o.topic.as_str()),
            original_partition: original.and_then(|o| o.partition),
            original_offset: original.and_then(|o| o.offset),
            original_key: original.and_then(|o| o.key.as_deref()),
            original_value: match &self.original_value {
                Some(value) => value.clone(),
                None => self
                    .item
                    .to_otlp_json()
                    .map(|json| String::from_utf8_lossy(&json).into_owned())
                    .unwrap_or_default(),
            },
            error: &self.error,
            error_type: self.error_type,
            timestamp: rfc3339(self.timestamp),
            retry_count: self.retry_count,
            consumer_id: self.consumer_id.as_deref(),
            signal: self.item.signal().as_str(),
            pipeline: &self.pipeline,
            stage: &self.stage,
            rule: self.rule.as_deref(),
            field: self.field.as_deref(),
            value: self.value.as_deref(),
            base64_fields: &self.base64_fields,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.message()).unwrap_or_default()
    }
}

/// Bytes read from outside (a Kafka key, value or header) for a DLQ text field: the text when
/// they are UTF-8, else their base64 and `true`, for the field to be listed in `base64_fields`.
/// Nothing is replaced or lost, so the record can be rebuilt from its dead letter.
pub fn text_or_base64(bytes: &[u8]) -> (String, bool) {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            true,
        ),
    }
}

/// `2025-01-15T10:30:00.123Z`, in UTC.
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_from_nanos(since_epoch.as_nanos() as u64)
}

pub fn rfc3339_from_nanos(nanos: u64) -> String {
    let seconds = nanos / 1_000_000_000;
    let millis = (nanos / 1_000_000) % 1000;
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// Nanoseconds since the epoch of `2025-01-15T10:30:00Z`, with optional fractional seconds
/// (digits past the ninth are dropped) and a `Z` or `±hh:mm` offset. The text comes from outside
/// (Kafka records, config), so every field has its fixed number of digits and every step is
/// checked: a time before 1970 or past what `u64` nanoseconds hold (2554-07-21) is `None`,
/// never a wrapped number or an overflow panic.
pub fn nanos_from_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.trim().split_once(['T', 't', ' '])?;
    let [year, month, day] = fields::<3>(date, '-', [4, 2, 2])?;
    let (clock, offset_seconds) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let [hours, minutes] = fields::<2>(&offset[1..], ':', [2, 2])?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        (clock, sign * (hours * 3600 + minutes * 60))
    };
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (clock, ""),
    };
    let [hour, minute, second] = fields::<3>(whole, ':', [2, 2, 2])?;
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    // At most nine digits, so the number fits and stays below a second.
    let fraction = fraction.get(..fraction.len().min(9))?;
    let nanos_fraction = format!("{fraction:0<9}").parse::<u64>().ok()?;
    let seconds = days_from_civil(year, month as u32, day as u32)
        .checked_mul(86_400)?
        .checked_add(hour * 3600 + minute * 60 + second)?
        .checked_sub(offset_seconds)?;
    u64::try_from(seconds)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos_fraction)
}

/// `N` numbers of exactly the given digit counts, separated by `separator`.
fn fields<const N: usize>(text: &str, separator: char, digits: [usize; N]) -> Option<[i64; N]> {
    let mut parts = text.split(separator);
    let mut values = [0; N];
    for (value, width) in values.iter_mut().zip(digits) {
        let part = parts.next()?;
        if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *value = part.parse().ok()?;
    }
    parts.next().is_none().then_some(values)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's civil-to-days algorithm. For the four-digit years `nanos_from_rfc3339`
/// passes, nothing here comes near overflowing.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for nanos in [0, 1_736_937_000_123_000_000, 951_782_400_000_000_000] {
            assert_eq!(nanos_from_rfc3339(&rfc3339_from_nanos(nanos)), Some(nanos));
        }
        assert_eq!(
            nanos_from_rfc3339("2025-01-15T11:30:00+01:00"),
            nanos_from_rfc3339("2025-01-15T10:30:00Z")
        );
        assert_eq!(nanos_from_rfc3339("2025-13-15T10:30:00Z"), None);
        assert_eq!(nanos_from_rfc3339("yesterday"), None);
    }

    #[test]
    fn out_of_range_and_malformed_times_are_none_not_a_panic_or_a_wrap() {
        for text in [
            "9999-12-31T23:59:59.999999999Z",
            "0000-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "292278994-08-17T07:12:55Z",
            "9223372036854775807-01-01T00:00:00Z",
            "2554-07-21T23:34:33.709551616Z",
            "1970-01-01T00:00:00+99:00",
            "1970-01-01T00:00:00-9223372036854775807:00",
            "2025-01-15T10:30:00.Z",
            "2025-01-15T10:30:00.1x2Z",
            "+2025-01-15T10:30:00Z",
            "2025-1-15T10:30:00Z",
            "2025-02-30T10:30:00Z",
            "2025-01-15T10:30:00:00Z",
        ] {
            assert_eq!(nanos_from_rfc3339(text), None, "{text}");
        }
        assert_eq!(
            nanos_from_rfc3339("2554-07-21T23:34:33.709551615Z"),
            Some(u64::MAX),
            "the last time u64 nanoseconds hold"
        );
        let huge_fraction = format!("2025-01-15T10:30:00.123456789{}Z", "9".repeat(10_000));
        assert_eq!(
            nanos_from_rfc3339(&huge_fraction),
            Some(1_736_937_000_123_456_789),
            "digits past the nanosecond are dropped"
        );
        assert_eq!(
            nanos_from_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000_000_000)
        );
    }

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339_from_nanos(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_from_nanos(1_736_937_000_123_000_000),
            "2025-01-15T10:30:00.123Z"
        );
        assert_eq!(
            rfc3339_from_nanos(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
