//! The protobuf bytes each resource group arrived in, kept beside the decoded payload for as
//! long as nothing changes the payload, so that a stage writing OTLP protobuf (the Kafka
//! exporter, the disk queue) sends them on as they came instead of encoding the payload again:
//! encoding again was a third of the Kafka path's CPU.
//!
//! A group is a whole `Resource{Spans,Metrics,Logs}` message. All three carry the resource as
//! field 1, their scope groups as field 2 and the schema URL as field 3, so one walk over the
//! wire format serves the three signals. Protobuf merges a message that repeats a field, so a
//! group's scope fields may follow another group's resource and schema URL: that is how groups
//! of equal resource become one without decoding either.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;

use super::batch::{decode_group, Payload, Signal};

/// The field of an `Export*ServiceRequest` holding its resource groups.
const REQUEST_GROUPS: u32 = 1;
/// The field of a resource group holding its scope groups.
const GROUP_SCOPES: u32 = 2;
const LENGTH_DELIMITED: u8 = 2;

/// The encoded resource groups of a batch, one for each decoded group, in the same order, with
/// the items each holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedGroups {
    groups: Vec<Bytes>,
    items: Vec<usize>,
}

impl EncodedGroups {
    /// The groups of `request`, an encoded `Export*ServiceRequest`, when it has one for each
    /// count in `items` (the items of each, as decoding or walking it counted them): `None` for
    /// bytes that do not walk cleanly.
    pub fn split(request: &Bytes, items: Vec<usize>) -> Option<EncodedGroups> {
        let mut groups = Vec::with_capacity(items.len());
        for field in fields(request)? {
            if field.number != REQUEST_GROUPS {
                continue;
            }
            if field.wire_type != LENGTH_DELIMITED {
                return None;
            }
            groups.push(request.slice(field.value));
        }
        (groups.len() == items.len()).then_some(EncodedGroups { groups, items })
    }

    /// What a receiver keeps of `payload` sent as protobuf: for tests and benchmarks that
    /// start from decoded data.
    pub fn of(payload: &Payload) -> Option<EncodedGroups> {
        let request = Bytes::from(payload.encode_protobuf());
        EncodedGroups::split(&request, payload.group_items())
    }

    /// The size of `request()`, without building it.
    pub fn encoded_len(&self) -> usize {
        self.groups.iter().map(|g| field_size(g.len())).sum()
    }

    pub fn item_count(&self) -> usize {
        self.items.iter().sum()
    }

    /// The items of group `index`.
    pub fn items(&self, index: usize) -> usize {
        self.items[index]
    }

    /// Every group decoded whole.
    pub fn decode(&self, signal: Signal) -> Option<Payload> {
        self.decode_groups(signal, 0..self.groups.len())
    }

    /// The groups at `indexes` decoded whole, as one payload.
    pub fn decode_groups(
        &self,
        signal: Signal,
        indexes: impl IntoIterator<Item = usize>,
    ) -> Option<Payload> {
        let mut payload = Payload::empty(signal);
        for index in indexes {
            payload
                .append(decode_group(signal, &self.groups[index])?)
                .ok()?;
        }
        Some(payload)
    }

    /// Each group's resource and schema URL decoded, without its scopes and items.
    pub fn resources(&self, signal: Signal) -> Option<Payload> {
        let mut payload = Payload::empty(signal);
        for group in &self.groups {
            let parts = GroupParts::of(group)?;
            let group = decode_group(signal, &parts.identity(group))?;
            payload.append(group).ok()?;
        }
        Some(payload)
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn append(&mut self, other: EncodedGroups) {
        self.groups.extend(other.groups);
        self.items.extend(other.items);
    }

    /// The whole `Export*ServiceRequest` holding every group.
    pub fn request(&self) -> Vec<u8> {
        let size = self.groups.iter().map(|g| field_size(g.len())).sum();
        let mut request = Vec::with_capacity(size);
        for group in &self.groups {
            put_field(&mut request, REQUEST_GROUPS, group.len());
            request.extend_from_slice(group);
        }
        request
    }

    /// Whether these bytes decode to exactly `payload`: the invariant every stage keeps, for
    /// checks in debug builds.
    pub fn encodes(&self, payload: &Payload) -> bool {
        super::batch::decode_protobuf(payload.signal(), &self.request()).as_ref() == Some(payload)
    }

    /// Requests of at most `limit` bytes each, in the order the groups first appear. Groups of
    /// equal resource and schema URL share a request as one group, as far as the limit allows.
    pub fn requests(&self, limit: usize) -> Vec<EncodedRequest> {
        let mut merging: Vec<Merging> = Vec::new();
        let mut open: HashMap<Vec<u8>, usize> = HashMap::new();
        for (index, group) in self.groups.iter().enumerate() {
            let Some(parts) = GroupParts::of(group) else {
                merging.push(Merging::alone(index, group));
                continue;
            };
            let identity = parts.identity(group);
            let joins = open.get(&identity).copied().filter(|&at| {
                let scopes: usize = parts.scopes.iter().map(Range::len).sum();
                field_size(merging[at].body_len + scopes) <= limit
            });
            match joins {
                Some(at) => merging[at].join(index, &parts),
                None => {
                    open.insert(identity, merging.len());
                    merging.push(Merging::start(index, parts));
                }
            }
        }
        merging
            .into_iter()
            .map(|m| m.finish(&self.groups, limit))
            .collect()
    }
}

/// One request's worth of groups: which groups (by index) and, when it fits the limit, its
/// bytes. A single group over the limit has none: it can only be split decoded.
#[derive(Debug, PartialEq)]
pub struct EncodedRequest {
    pub groups: Vec<usize>,
    pub bytes: Option<Vec<u8>>,
}

/// Groups on their way to becoming one: the first group's resource and schema URL, then the
/// scope fields of each.
struct Merging {
    groups: Vec<usize>,
    identity: Vec<Range<usize>>,
    scopes: Vec<(usize, Range<usize>)>,
    body_len: usize,
}

impl Merging {
    fn alone(index: usize, group: &Bytes) -> Merging {
        Merging {
            groups: vec![index],
            identity: Vec::new(),
            scopes: Vec::new(),
            body_len: group.len(),
        }
    }

    fn start(index: usize, parts: GroupParts) -> Merging {
        let mut merging = Merging {
            body_len: parts.identity.iter().map(Range::len).sum(),
            groups: Vec::new(),
            identity: Vec::new(),
            scopes: Vec::new(),
        };
        merging.join(index, &parts);
        merging.identity = parts.identity;
        merging
    }

    fn join(&mut self, index: usize, parts: &GroupParts) {
        self.groups.push(index);
        for scope in &parts.scopes {
            self.body_len += scope.len();
            self.scopes.push((index, scope.clone()));
        }
    }

    fn finish(self, groups: &[Bytes], limit: usize) -> EncodedRequest {
        let fits = field_size(self.body_len) <= limit;
        let bytes = fits.then(|| {
            let mut request = Vec::with_capacity(field_size(self.body_len));
            put_field(&mut request, REQUEST_GROUPS, self.body_len);
            if let [only] = self.groups[..] {
                // A group alone goes as it came, fields of its own (unknown ones too) included.
                request.extend_from_slice(&groups[only]);
                return request;
            }
            let first = &groups[self.groups[0]];
            for range in &self.identity {
                request.extend_from_slice(&first[range.clone()]);
            }
            for (index, range) in &self.scopes {
                request.extend_from_slice(&groups[*index][range.clone()]);
            }
            request
        });
        EncodedRequest {
            groups: self.groups,
            bytes,
        }
    }
}

/// Where a group's fields are: its scope groups, and everything else (the resource, the schema
/// URL, fields unknown here), which says whose data the group is.
struct GroupParts {
    identity: Vec<Range<usize>>,
    scopes: Vec<Range<usize>>,
}

impl GroupParts {
    fn of(group: &[u8]) -> Option<GroupParts> {
        let mut parts = GroupParts {
            identity: Vec::new(),
            scopes: Vec::new(),
        };
        for field in fields(group)? {
            if field.number == GROUP_SCOPES {
                parts.scopes.push(field.whole);
            } else {
                parts.identity.push(field.whole);
            }
        }
        Some(parts)
    }

    fn identity(&self, group: &[u8]) -> Vec<u8> {
        self.identity
            .iter()
            .flat_map(|range| &group[range.clone()])
            .copied()
            .collect()
    }
}

struct Field {
    number: u32,
    wire_type: u8,
    /// Tag, length and value.
    whole: Range<usize>,
    value: Range<usize>,
}

/// The top-level fields of an encoded message, or `None` if it does not walk cleanly.
fn fields(message: &[u8]) -> Option<Vec<Field>> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let start = at;
        let tag = varint(message, &mut at)?;
        let number = u32::try_from(tag >> 3).ok()?;
        let wire_type = (tag & 7) as u8;
        let value = match wire_type {
            0 => {
                let from = at;
                varint(message, &mut at)?;
                from..at
            }
            1 => advance(message, &mut at, 8)?,
            LENGTH_DELIMITED => {
                let len = usize::try_from(varint(message, &mut at)?).ok()?;
                advance(message, &mut at, len)?
            }
            5 => advance(message, &mut at, 4)?,
            _ => return None,
        };
        found.push(Field {
            number,
            wire_type,
            whole: start..at,
            value,
        });
    }
    Some(found)
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

fn advance(bytes: &[u8], at: &mut usize, len: usize) -> Option<Range<usize>> {
    let end = at.checked_add(len).filter(|&end| end <= bytes.len())?;
    let range = *at..end;
    *at = end;
    Some(range)
}

/// Bytes of a length-delimited field with a one-byte tag and `len` bytes of value.
fn field_size(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

fn put_field(out: &mut Vec<u8>, number: u32, len: usize) {
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(len as u64, out);
}

#[cfg(test)]
#[path = "encoded_tests.rs"]
mod tests;
