//! The Kafka receiver's record decode, for every configured encoding, never panics on any value
//! and headers. The input is: one byte for the encoding, one for the number of headers (up to
//! 7), then each header as a key and a value, each either one of the names and values the
//! exporter writes (a byte below the table's length) or raw bytes (any other byte, a length
//! byte, the bytes); the rest is the record's value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary::receivers::kafka::decode::{decode, Consumed};
use tributary::receivers::kafka::RecordEncoding;

const ENCODINGS: [RecordEncoding; 4] = [
    RecordEncoding::Auto,
    RecordEncoding::OtlpProto,
    RecordEncoding::OtlpJson,
    RecordEncoding::GdsJson,
];

const KEYS: &[&[u8]] = &[
    b"content-type",
    b"signal",
    b"schema.version",
    b"record.id",
    b"Content-Type",
];

const VALUES: &[&[u8]] = &[
    b"application/x-protobuf",
    b"application/json",
    b"traces",
    b"metrics",
    b"logs",
    b"gds.metric.v1",
    b"gds.log.v1",
    b"otlp.v1",
    b"\xffjson",
];

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Some(encoding) = take(&mut rest, 1) else {
        return;
    };
    let encoding = ENCODINGS[encoding[0] as usize % ENCODINGS.len()];
    let count = take(&mut rest, 1).map_or(0, |count| count[0] % 8);
    let mut headers = Vec::new();
    for _ in 0..count {
        let (Some(key), Some(value)) = (part(&mut rest, KEYS), part(&mut rest, VALUES)) else {
            break;
        };
        headers.push((key, value));
    }
    let record = Consumed {
        topic: "fuzz".into(),
        partition: 0,
        offset: 0,
        key: None,
        value: rest.to_vec(),
        headers,
    };
    let _ = record.unreadable_header();
    let _ = record.shown_header("content-type");
    for configured in [encoding, RecordEncoding::Auto] {
        if let Ok(received) = decode(&record, configured) {
            let _ = received.items();
        }
    }
});

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    Some(head)
}

fn part(rest: &mut &[u8], table: &[&[u8]]) -> Option<Vec<u8>> {
    let choice = take(rest, 1)?[0];
    if let Some(known) = table.get(choice as usize) {
        return Some(known.to_vec());
    }
    let len = take(rest, 1)?[0] as usize;
    take(rest, len).map(<[u8]>::to_vec)
}
