//! The record format of a disk-queue segment, and reading it back.
//!
//! A record is `length: u32 LE | crc32(body): u32 LE | body`, and the body is
//! `seq: u64 | items: u32 | signal: u8 | pipeline | source | payload` where the two names are
//! `u16 LE` length-prefixed and the payload is the OTLP protobuf `Export*ServiceRequest`.
//! A record cut short by a crash, or whose checksum does not match, ends the segment.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::pipeline::batch::{Batch, Payload, Signal};
use crate::pipeline::codec::{decode_received, Encoding};

const HEADER: u64 = 8;
/// The largest record body: far above any batch the receivers accept. The writer refuses a
/// larger one (it could not be read back), and the reader takes a larger length for a torn
/// header.
pub const MAX_RECORD_BODY: u32 = 1 << 30;

/// A batch whose record would be larger than the queue can read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected a record of at most {limit} bytes, found a batch of {items} items that encodes to {bytes} bytes")]
pub struct RecordTooLarge {
    pub items: usize,
    pub bytes: u64,
    pub limit: u32,
}

/// One record as read back.
pub struct Stored {
    pub seq: u64,
    pub items: u64,
    pub pipeline: String,
    pub batch: Batch,
}

/// The whole record for `batch`, or `None` for what a disk queue cannot hold (dead letters);
/// an error when its body would be over `max_body` bytes.
pub fn encode(seq: u64, batch: &Batch, max_body: u32) -> Result<Option<Vec<u8>>, RecordTooLarge> {
    if matches!(batch.resources(), Payload::DeadLetters(_)) {
        return Ok(None);
    }
    let pipeline = batch
        .context
        .dead_letter
        .as_ref()
        .map_or("", |route| route.pipeline());
    let source: &str = &batch.context.source;
    let payload = batch.encode_protobuf();
    let body_len = 8
        + 4
        + 1
        + 4
        + pipeline.len().min(u16::MAX as usize)
        + source.len().min(u16::MAX as usize)
        + payload.len();
    if body_len as u64 > u64::from(max_body) {
        return Err(RecordTooLarge {
            items: batch.items(),
            bytes: body_len as u64,
            limit: max_body,
        });
    }
    let mut body =
        Vec::with_capacity(8 + 4 + 1 + 4 + pipeline.len() + source.len() + payload.len());
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(&(batch.items() as u32).to_le_bytes());
    body.push(batch.signal() as u8);
    for name in [pipeline, source] {
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        body.extend_from_slice(&(name.len() as u16).to_le_bytes());
        body.extend_from_slice(name);
    }
    body.extend_from_slice(&payload);
    let mut record = Vec::with_capacity(HEADER as usize + body.len());
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    Ok(Some(record))
}

fn decode(body: &[u8]) -> Option<Stored> {
    let mut rest = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let items = u32::from_le_bytes(take(4)?.try_into().ok()?) as u64;
    let signal = *Signal::ALL.get(take(1)?[0] as usize)?;
    let mut name = || -> Option<String> {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        String::from_utf8(take(len)?.to_vec()).ok()
    };
    let (pipeline, source) = (name()?, name()?);
    let rest = Bytes::copy_from_slice(rest);
    // Read back with the receivers' strictness; walked bodies stay undecoded.
    let received = decode_received(signal, Encoding::Protobuf, &rest).ok()?;
    let batch = Batch::received(received, source.into());
    Some(Stored {
        seq,
        items,
        pipeline,
        batch,
    })
}

pub enum Next {
    Record {
        stored: Box<Stored>,
        end: u64,
    },
    /// Nothing more: the end of the file.
    End,
    /// A record cut short or damaged at this offset.
    Torn,
}

/// Reads the record at `offset`.
pub fn read_at(file: &mut File, offset: u64, file_len: u64) -> std::io::Result<Next> {
    if offset >= file_len {
        return Ok(Next::End);
    }
    if offset + HEADER > file_len {
        return Ok(Next::Torn);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut header = [0u8; HEADER as usize];
    file.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    let end = offset + HEADER + len as u64;
    if len > MAX_RECORD_BODY || end > file_len {
        return Ok(Next::Torn);
    }
    let mut body = vec![0u8; len as usize];
    file.read_exact(&mut body)?;
    if crc32fast::hash(&body) != crc {
        return Ok(Next::Torn);
    }
    Ok(match decode(&body) {
        Some(stored) => Next::Record {
            stored: Box::new(stored),
            end,
        },
        None => Next::Torn,
    })
}

/// A segment file as found at start-up.
pub struct Scanned {
    /// Records that pass their checksum, in order: (seq, items, end offset).
    pub records: Vec<(u64, u64, u64)>,
    /// Where the good records end; anything after it was torn and is cut off.
    pub valid_len: u64,
    pub torn: bool,
}

pub fn scan(path: &Path) -> std::io::Result<Scanned> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut scanned = Scanned {
        records: Vec::new(),
        valid_len: 0,
        torn: false,
    };
    loop {
        match read_at(&mut file, scanned.valid_len, file_len)? {
            Next::Record { stored, end } => {
                scanned.records.push((stored.seq, stored.items, end));
                scanned.valid_len = end;
            }
            Next::End => return Ok(scanned),
            Next::Torn => {
                scanned.torn = true;
                return Ok(scanned);
            }
        }
    }
}

pub fn segment_path(directory: &Path, first_seq: u64) -> PathBuf {
    directory.join(format!("{first_seq:020}.seg"))
}

/// The first sequence number a segment file's name gives, if it is one.
pub fn segment_first_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".seg")?.parse().ok()
}
