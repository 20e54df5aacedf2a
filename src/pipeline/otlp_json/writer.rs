//! The JSON primitives of the proto3 JSON mapping, appended straight to a byte buffer: no
//! intermediate values, no allocation beyond the buffer's own growth.

use base64::Engine;
use serde_json::ser::Formatter;

/// One JSON object being written: each field goes in with the comma it needs, and a field at
/// its proto3 default is left out (proto3 JSON omits them; it never writes `null`).
pub(super) struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    pub fn begin(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    pub fn end(self) {
        self.out.push(b'}');
    }

    /// Starts a field (field names are lowerCamelCase ASCII, nothing to escape) and hands back
    /// the buffer for its value: for a field written whatever its value, such as a oneof's set
    /// member.
    pub fn field(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            string(self.field(name), value);
        }
    }

    pub fn bool(&mut self, name: &str, value: bool) {
        if value {
            self.field(name).extend_from_slice(b"true");
        }
    }

    /// int32, uint32, sint32, fixed32 and enums: JSON numbers.
    pub fn int32(&mut self, name: &str, value: i32) {
        if value != 0 {
            int(self.field(name), value.into());
        }
    }

    pub fn uint32(&mut self, name: &str, value: u32) {
        if value != 0 {
            uint(self.field(name), value.into());
        }
    }

    /// uint64 and fixed64: decimal strings (a JSON number loses precision past 2^53).
    pub fn uint64(&mut self, name: &str, value: u64) {
        if value != 0 {
            uint64_string(self.field(name), value);
        }
    }

    pub fn uint64s(&mut self, name: &str, values: &[u64]) {
        self.array(name, values, |out, value| uint64_string(out, *value));
    }

    /// A double without presence: left out at +0.0 only (-0.0 is not the default: its sign
    /// survives the binary encoding, so it survives this one too).
    pub fn double(&mut self, name: &str, value: f64) {
        if value.to_bits() != 0 {
            double(self.field(name), value);
        }
    }

    /// An `optional double`: written when set, zero included; absent otherwise.
    pub fn optional_double(&mut self, name: &str, value: Option<f64>) {
        if let Some(value) = value {
            double(self.field(name), value);
        }
    }

    pub fn doubles(&mut self, name: &str, values: &[f64]) {
        self.array(name, values, |out, value| double(out, *value));
    }

    /// Trace and span ids: lowercase hex, as OTLP specifies (not proto3's base64).
    pub fn hex_id(&mut self, name: &str, bytes: &[u8]) {
        if !bytes.is_empty() {
            hex_string(self.field(name), bytes);
        }
    }

    /// A message field: written when present, even when every field in it is at its default
    /// (`{}`), since a message field has presence.
    pub fn message<T>(
        &mut self,
        name: &str,
        value: Option<&T>,
        write: impl FnOnce(&mut Vec<u8>, &T),
    ) {
        if let Some(value) = value {
            write(self.field(name), value);
        }
    }

    /// A repeated field: left out when empty.
    pub fn array<T>(&mut self, name: &str, items: &[T], write: impl FnMut(&mut Vec<u8>, &T)) {
        if !items.is_empty() {
            self.array_always(name, items, write);
        }
    }

    /// A repeated field written even when empty (see `messages::key_value` for why some are).
    pub fn array_always<T>(
        &mut self,
        name: &str,
        items: &[T],
        mut write: impl FnMut(&mut Vec<u8>, &T),
    ) {
        let out = self.field(name);
        out.push(b'[');
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write(out, item);
        }
        out.push(b']');
    }
}

/// A JSON string: `"` and `\` escaped, control characters as their short escapes or `\u00XX`,
/// everything else (non-ASCII included) as its UTF-8 bytes. A Rust string holds no lone
/// surrogates, so the output is always valid UTF-8 JSON.
pub(super) fn string(out: &mut Vec<u8>, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[clean_from..index]);
        clean_from = index + 1;
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

/// A proto3 JSON double: a JSON number in its shortest round-trip form, or one of the strings
/// "NaN", "Infinity" and "-Infinity", which JSON numbers cannot express.
pub(super) fn double(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value == f64::INFINITY {
        out.extend_from_slice(b"\"Infinity\"");
    } else if value == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Infinity\"");
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::ser::CompactFormatter.write_f64(out, value);
    }
}

pub(super) fn int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    uint(out, value.unsigned_abs());
}

pub(super) fn uint(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// int64, sint64, sfixed64: a decimal string.
pub(super) fn int64_string(out: &mut Vec<u8>, value: i64) {
    out.push(b'"');
    int(out, value);
    out.push(b'"');
}

pub(super) fn uint64_string(out: &mut Vec<u8>, value: u64) {
    out.push(b'"');
    uint(out, value);
    out.push(b'"');
}

pub(super) fn hex_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2 + 2);
    out.push(b'"');
    for &byte in bytes {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0xf)]);
    }
    out.push(b'"');
}

/// A bytes field: standard base64 with padding, as proto3 JSON writes bytes.
pub(super) fn base64_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let engine = &base64::engine::general_purpose::STANDARD;
    out.push(b'"');
    let start = out.len();
    let encoded_len = bytes.len().div_ceil(3) * 4;
    out.resize(start + encoded_len, 0);
    // The slice is exactly the padded length the engine writes.
    let written = engine.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

pub(super) fn bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}
#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
