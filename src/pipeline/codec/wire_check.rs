//! A walk over a protobuf `Export*ServiceRequest` that answers "would the full decode accept
//! this, and how many items does it hold?" without building the request: the agent forwards
//! the bytes it received, so decoding them into prost types only to check them is wasted work.
//!
//! Each message below mirrors its type in opentelemetry-proto 0.33.1 field by field, and the
//! wire rules are prost 0.14.6's. Where following prost exactly would take more code than it is
//! worth (groups, a metric's `data` oneof given twice) the walk answers `None` and the caller
//! decodes in full, so that it can only be stricter than prost, never looser: a `Some` for bytes
//! the full decode rejects would forward data that was never checked.

use crate::pipeline::batch::Signal;

/// AnyValue nests through ArrayValue and KeyValueList without bound; prost gives up at 100
/// levels (counting the skipping of unknown fields), so this stops well before that.
const MAX_DEPTH: u32 = 32;

/// Walks an OTLP protobuf Export*ServiceRequest without building it. `Some(items)` only when
/// the full decode (prost, then `wellformed::check`) is certain to accept the bytes; `items` is
/// what `Payload::item_count` would count (spans, metric data points, log records).
/// `None` means "not certain": the caller falls back to the full decode, which gives the error.
pub fn well_formed_items(signal: Signal, request: &[u8]) -> Option<usize> {
    let mut items = 0;
    walk_request(signal, request, |group_items| items += group_items)?;
    Some(items)
}

/// As `well_formed_items`, with the items of each resource group, in order.
pub fn well_formed_group_items(signal: Signal, request: &[u8]) -> Option<Vec<usize>> {
    let mut groups = Vec::new();
    walk_request(signal, request, |group_items| groups.push(group_items))?;
    Some(groups)
}

fn walk_request(signal: Signal, request: &[u8], each_group: impl FnMut(usize)) -> Option<()> {
    match signal {
        Signal::Traces => export_request(request, span, each_group),
        Signal::Metrics => export_request(request, metric, each_group),
        Signal::Logs => export_request(request, log_record, each_group),
    }
}

#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint,
    I64,
    Len(&'a [u8]),
    I32,
}

use Wire::{Len, Varint, I32, I64};

// `inline(always)` on the four helpers below: left to itself, the compiler kept `field` apart,
// and its dispatch on the wire type could not merge with each message's match on the field;
// inlined, the walk took about a sixth less time.

/// As prost's `decode_varint`: at most 10 bytes, and the tenth may only carry bit 63.
#[inline(always)]
fn varint(buf: &mut &[u8]) -> Option<u64> {
    let (&first, rest) = buf.split_first()?;
    if first < 0x80 {
        *buf = rest;
        return Some(u64::from(first));
    }
    let mut value = 0;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            *buf = &buf[i + 1..];
            return Some(value);
        }
    }
    None
}

/// One field: its number and its value, which for fixed-width and varint fields is only skipped.
#[inline(always)]
fn field<'a>(buf: &mut &'a [u8]) -> Option<(u32, Wire<'a>)> {
    // prost refuses keys above u32::MAX and field number 0.
    let key = u32::try_from(varint(buf)?).ok()?;
    let number = key >> 3;
    if number == 0 {
        return None;
    }
    let wire = match key & 7 {
        0 => {
            varint(buf)?;
            Varint
        }
        1 => {
            *buf = buf.get(8..)?;
            I64
        }
        2 => {
            let len = usize::try_from(varint(buf)?).ok()?;
            let (value, rest) = buf.split_at_checked(len)?;
            *buf = rest;
            Len(value)
        }
        5 => {
            *buf = buf.get(4..)?;
            I32
        }
        // Groups (3, 4): prost skips them, but nothing in OTLP sends them. 6 and 7 are invalid.
        _ => return None,
    };
    Some((number, wire))
}

/// Calls `visit` for each field of a message; `visit` answers `None` for a field prost (or the
/// well-formedness check) would refuse: a known field with another wire type, for one.
#[inline(always)]
fn walk<'a>(mut buf: &'a [u8], mut visit: impl FnMut(u32, Wire<'a>) -> Option<()>) -> Option<()> {
    while !buf.is_empty() {
        let (number, wire) = field(&mut buf)?;
        visit(number, wire)?;
    }
    Some(())
}

#[inline(always)]
fn utf8(text: &[u8]) -> Option<()> {
    // Nearly every string in telemetry is ASCII, which `is_ascii` checks a word at a time
    // without a call: this took 40% off the whole walk of the benchmark requests.
    if text.is_ascii() {
        return Some(());
    }
    std::str::from_utf8(text).ok().map(drop)
}

/// prost reads a repeated scalar packed or not, whichever it finds; packed varints must each be
/// whole within the field.
fn packed_varints(mut packed: &[u8]) -> Option<()> {
    while !packed.is_empty() {
        varint(&mut packed)?;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------
// Requests: the three signals share one shape down to their items.

fn export_request(
    buf: &[u8],
    item: impl Fn(&[u8], u32) -> Option<usize> + Copy,
    mut each_group: impl FnMut(usize),
) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, Len(resource_group)) => {
                each_group(group(resource_group, 1, resource, |scope_group, depth| {
                    group(scope_group, depth, scope, item)
                })?);
            }
            (1, _) => return None,
            _ => {}
        }
        Some(())
    })
}

/// `Resource{Spans,Metrics,Logs}` (header: Resource) and `Scope{Spans,Metrics,Logs}` (header:
/// InstrumentationScope): the header at 1, what they hold at 2, schema_url at 3.
fn group(
    buf: &[u8],
    depth: u32,
    header: fn(&[u8], u32) -> Option<()>,
    inner: impl Fn(&[u8], u32) -> Option<usize>,
) -> Option<usize> {
    let mut items = 0;
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, Len(message)) => header(message, depth + 1)?,
            (2, Len(message)) => items += inner(message, depth + 1)?,
            (3, Len(text)) => utf8(text)?,
            (1..=3, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(items)
}

// ---------------------------------------------------------------------------------------------
// Common

fn resource(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, Len(message)) => key_value(message, depth + 1)?,
            (2, Varint) => {}
            (3, Len(message)) => entity_ref(message)?,
            (1..=3, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn entity_ref(buf: &[u8]) -> Option<()> {
    // schema_url, type, and the repeated id_keys and description_keys: all strings.
    walk(buf, |number, wire| match (number, wire) {
        (1..=4, Len(text)) => utf8(text),
        (1..=4, _) => None,
        _ => Some(()),
    })
}

fn scope(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (1 | 2, Len(text)) => utf8(text)?,
            (3, Len(message)) => key_value(message, depth + 1)?,
            (4, Varint) => {}
            (1..=4, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn key_value(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, Len(text)) => utf8(text)?,
            (2, Len(message)) => any_value(message, depth + 1)?,
            (3, Varint) => {}
            (1..=3, _) => return None,
            _ => {}
        }
        Some(())
    })
}

/// Every cycle in the schema passes through here, so this one check bounds the depth.
fn any_value(buf: &[u8], depth: u32) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, Len(text)) => utf8(text)?,
            (2 | 3 | 8, Varint) | (4, I64) | (7, Len(_)) => {}
            (5, Len(array)) => walk(array, |number, wire| match (number, wire) {
                (1, Len(value)) => any_value(value, depth + 2),
                (1, _) => None,
                _ => Some(()),
            })?,
            (6, Len(list)) => walk(list, |number, wire| match (number, wire) {
                (1, Len(pair)) => key_value(pair, depth + 2),
                (1, _) => None,
                _ => Some(()),
            })?,
            (1..=8, _) => return None,
            _ => {}
        }
        Some(())
    })
}

// ---------------------------------------------------------------------------------------------
// Traces

fn span(buf: &[u8], depth: u32) -> Option<usize> {
    let (mut trace_id, mut span_id) = (false, false);
    walk(buf, |number, wire| {
        match (number, wire) {
            // Every occurrence must be valid, as prost keeps the last; ids are required.
            (1, Len(id)) if id.len() == 16 => trace_id = true,
            (2, Len(id)) if id.len() == 8 => span_id = true,
            (4, Len(id)) if id.is_empty() || id.len() == 8 => {}
            (3 | 5, Len(text)) => utf8(text)?,
            (6 | 10 | 12 | 14, Varint) | (7 | 8, I64) | (16, I32) => {}
            (9, Len(message)) => key_value(message, depth + 1)?,
            (11, Len(message)) => event(message, depth + 1)?,
            (13, Len(message)) => link(message, depth + 1)?,
            (15, Len(message)) => status(message)?,
            // Another wire type, or an id of the wrong length.
            (1..=16, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    (trace_id && span_id).then_some(1)
}

fn event(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, I64) | (4, Varint) => {}
            (2, Len(text)) => utf8(text)?,
            (3, Len(message)) => key_value(message, depth + 1)?,
            (1..=4, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn link(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        // The well-formedness check leaves a link's ids alone.
        match (number, wire) {
            (1 | 2, Len(_)) | (5, Varint) | (6, I32) => {}
            (3, Len(text)) => utf8(text)?,
            (4, Len(message)) => key_value(message, depth + 1)?,
            (1..=6, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn status(buf: &[u8]) -> Option<()> {
    // Field 1 is the retired `deprecated_code`: unknown to prost, so skipped.
    walk(buf, |number, wire| match (number, wire) {
        (2, Len(text)) => utf8(text),
        (3, Varint) => Some(()),
        (2 | 3, _) => None,
        _ => Some(()),
    })
}

// ---------------------------------------------------------------------------------------------
// Logs

fn log_record(buf: &[u8], depth: u32) -> Option<usize> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (1 | 11, I64) | (2 | 7, Varint) | (8, I32) => {}
            (3 | 12, Len(text)) => utf8(text)?,
            (5, Len(message)) => any_value(message, depth + 1)?,
            (6, Len(message)) => key_value(message, depth + 1)?,
            (9, Len(id)) if id.is_empty() || id.len() == 16 => {}
            (10, Len(id)) if id.is_empty() || id.len() == 8 => {}
            // Field 4 is reserved, so unknown.
            (1..=3 | 5..=12, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(1)
}

// ---------------------------------------------------------------------------------------------
// Metrics

fn metric(buf: &[u8], depth: u32) -> Option<usize> {
    let mut points = None;
    walk(buf, |number, wire| {
        match (number, wire) {
            (1..=3, Len(text)) => utf8(text)?,
            (12, Len(message)) => key_value(message, depth + 1)?,
            (5 | 7 | 9 | 10 | 11, Len(data)) => {
                let d = depth + 1;
                let count = match number {
                    5 => data_points(data, d, &[], number_point)?,
                    7 => data_points(data, d, &[2, 3], number_point)?,
                    9 => data_points(data, d, &[2], histogram_point)?,
                    10 => data_points(data, d, &[2], exponential_histogram_point)?,
                    _ => data_points(data, d, &[], summary_point)?,
                };
                // prost merges a repeated oneof member into the one before it if of the same
                // kind and replaces it otherwise: not worth following for what no one sends.
                if points.replace(count).is_some() {
                    return None;
                }
            }
            // 4, 6 and 8 are reserved, so unknown.
            (1..=3 | 5 | 7 | 9..=12, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    // None: a metric without data, which the well-formedness check refuses.
    points
}

/// Gauge, Sum, Histogram, ExponentialHistogram and Summary: points at 1, and the listed varint
/// fields (aggregation temporality, monotonicity).
fn data_points(
    buf: &[u8],
    depth: u32,
    varints: &[u32],
    point: impl Fn(&[u8], u32) -> Option<()>,
) -> Option<usize> {
    let mut count = 0;
    walk(buf, |number, wire| {
        match (number, wire) {
            (1, Len(message)) => {
                point(message, depth + 1)?;
                count += 1;
            }
            (1, _) => return None,
            (_, Varint) if varints.contains(&number) => {}
            _ if varints.contains(&number) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(count)
}

fn number_point(buf: &[u8], depth: u32) -> Option<()> {
    let mut value = false;
    walk(buf, |number, wire| {
        match (number, wire) {
            (2 | 3, I64) | (8, Varint) => {}
            (4 | 6, I64) => value = true,
            (5, Len(message)) => exemplar(message, depth + 1)?,
            (7, Len(message)) => key_value(message, depth + 1)?,
            (2..=8, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    // The well-formedness check refuses a gauge or sum point without a value.
    value.then_some(())
}

fn histogram_point(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (2..=7 | 11 | 12, I64) | (10, Varint) => {}
            // bucket_counts and explicit_bounds, packed.
            (6 | 7, Len(packed)) if packed.len().is_multiple_of(8) => {}
            (8, Len(message)) => exemplar(message, depth + 1)?,
            (9, Len(message)) => key_value(message, depth + 1)?,
            (2..=12, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn exponential_histogram_point(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (2..=5 | 7 | 12..=14, I64) | (6 | 10, Varint) => {}
            (1, Len(message)) => key_value(message, depth + 1)?,
            (8 | 9, Len(message)) => buckets(message)?,
            (11, Len(message)) => exemplar(message, depth + 1)?,
            (1..=14, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn buckets(buf: &[u8]) -> Option<()> {
    walk(buf, |number, wire| match (number, wire) {
        (1 | 2, Varint) => Some(()),
        (2, Len(packed)) => packed_varints(packed),
        (1 | 2, _) => None,
        _ => Some(()),
    })
}

fn summary_point(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (2..=5, I64) | (8, Varint) => {}
            (6, Len(quantile)) => walk(quantile, |number, wire| match (number, wire) {
                (1 | 2, I64) => Some(()),
                (1 | 2, _) => None,
                _ => Some(()),
            })?,
            (7, Len(message)) => key_value(message, depth + 1)?,
            (2..=8, _) => return None,
            _ => {}
        }
        Some(())
    })
}

fn exemplar(buf: &[u8], depth: u32) -> Option<()> {
    walk(buf, |number, wire| {
        match (number, wire) {
            (2 | 3 | 6, I64) | (4 | 5, Len(_)) => {}
            (7, Len(message)) => key_value(message, depth + 1)?,
            (2..=7, _) => return None,
            _ => {}
        }
        Some(())
    })
}

#[cfg(test)]
#[path = "wire_check_tests.rs"]
mod tests;
