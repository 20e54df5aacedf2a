use super::*;

fn written(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    write(&mut out);
    String::from_utf8(out).expect("the writer writes UTF-8")
}

/// What serde_json reads back from a written string.
fn parsed_string(value: &str) -> String {
    let json = written(|out| string(out, value));
    serde_json::from_str::<String>(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

#[test]
fn quotes_and_backslashes_are_escaped() {
    assert_eq!(written(|o| string(o, r#"a"b\c"#)), r#""a\"b\\c""#);
    assert_eq!(parsed_string(r#"a"b\c"#), r#"a"b\c"#);
}

#[test]
fn control_characters_are_escaped_short_or_as_u00xx() {
    assert_eq!(
        written(|o| string(o, "\n\r\t\u{8}\u{c}")),
        r#""\n\r\t\b\f""#
    );
    assert_eq!(
        written(|o| string(o, "\u{0}\u{1}\u{1f}")),
        r#""\u0000\u0001\u001f""#
    );
    let every_control: String = (0u8..0x20).map(char::from).collect();
    let json = written(|o| string(o, &every_control));
    assert!(
        json.bytes().all(|b| b >= 0x20),
        "no raw control byte in {json:?}"
    );
    assert_eq!(parsed_string(&every_control), every_control);
}

#[test]
fn delete_and_non_ascii_are_written_as_their_utf8_bytes() {
    // JSON requires escaping below U+0020 only; everything else stays readable.
    let text = "\u{7f} ünïcödé 日本語 🚀 \u{2028} \u{fffd}";
    assert_eq!(written(|o| string(o, text)), format!("\"{text}\""));
    assert_eq!(parsed_string(text), text);
}

#[test]
fn a_string_between_escapes_keeps_every_clean_byte() {
    let text = "ab\"cd\\\nef";
    assert_eq!(parsed_string(text), text);
    assert_eq!(parsed_string(""), "");
    assert_eq!(written(|o| string(o, "")), r#""""#);
}

#[test]
fn doubles_are_numbers_and_the_non_finite_ones_strings() {
    assert_eq!(written(|o| double(o, 1.5)), "1.5");
    assert_eq!(written(|o| double(o, -0.0)), "-0.0");
    assert_eq!(written(|o| double(o, f64::NAN)), r#""NaN""#);
    assert_eq!(written(|o| double(o, f64::INFINITY)), r#""Infinity""#);
    assert_eq!(written(|o| double(o, f64::NEG_INFINITY)), r#""-Infinity""#);
    for value in [f64::MAX, f64::MIN_POSITIVE, 5e-324, -1.5e-300, 0.1, 1e21] {
        let json = written(|o| double(o, value));
        assert_eq!(
            serde_json::from_str::<f64>(&json).ok(),
            Some(value),
            "{json}"
        );
    }
}

#[test]
fn integers_are_decimal_and_64_bit_ones_quoted() {
    assert_eq!(written(|o| int(o, 0)), "0");
    assert_eq!(written(|o| int(o, -42)), "-42");
    assert_eq!(written(|o| int(o, i64::MIN)), "-9223372036854775808");
    assert_eq!(written(|o| uint(o, u64::MAX)), "18446744073709551615");
    assert_eq!(
        written(|o| int64_string(o, i64::MAX)),
        r#""9223372036854775807""#
    );
    assert_eq!(
        written(|o| uint64_string(o, 1_700_000_000_000_000_000)),
        r#""1700000000000000000""#
    );
}

#[test]
fn ids_are_lowercase_hex_and_bytes_padded_base64() {
    assert_eq!(
        written(|o| hex_string(o, &[0x00, 0xab, 0xcd, 0xef, 0x10])),
        r#""00abcdef10""#
    );
    assert_eq!(written(|o| base64_string(o, b"")), r#""""#);
    assert_eq!(written(|o| base64_string(o, b"f")), r#""Zg==""#);
    assert_eq!(written(|o| base64_string(o, b"fo")), r#""Zm8=""#);
    assert_eq!(written(|o| base64_string(o, b"foo")), r#""Zm9v""#);
    assert_eq!(written(|o| base64_string(o, &[0xfb, 0xff])), r#""+/8=""#);
}

#[test]
fn an_object_leaves_defaults_out_and_separates_the_rest() {
    let json = written(|out| {
        let mut object = Object::begin(out);
        object.string("empty", "");
        object.string("name", "x");
        object.bool("no", false);
        object.bool("yes", true);
        object.int32("zero", 0);
        object.int32("kind", 2);
        object.uint64("unset", 0);
        object.uint64("time", 7);
        object.double("positiveZero", 0.0);
        object.double("negativeZero", -0.0);
        object.optional_double("absent", None);
        object.optional_double("setToZero", Some(0.0));
        object.hex_id("noId", &[]);
        object.array("none", &[] as &[u64], |o, v| uint(o, *v));
        object.uint64s("counts", &[0, 1]);
        object.message("absentMessage", None::<&u8>, |o, _| o.push(b'!'));
        object.message("emptyMessage", Some(&()), |o, _| Object::begin(o).end());
        object.array_always("always", &[] as &[u64], |o, v| uint(o, *v));
        object.end();
    });
    assert_eq!(
        json,
        r#"{"name":"x","yes":true,"kind":2,"time":"7","negativeZero":-0.0,"setToZero":0.0,"counts":["0","1"],"emptyMessage":{},"always":[]}"#
    );
}

#[test]
fn an_empty_object_is_braces() {
    assert_eq!(written(|out| Object::begin(out).end()), "{}");
}
