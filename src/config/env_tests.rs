use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;

fn env(name: &str) -> Option<String> {
    (name == "REGION").then(|| "us-east-1".to_string())
}

fn with(value: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| (name == "FOO").then(|| value.to_string())
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, value: &str) -> T {
    let (text, problems) = substitute(text, with(value));
    assert_eq!(problems, vec![], "{text}");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"))
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Exporter {
    topic: String,
    #[serde(default)]
    encoding: Option<String>,
}

#[test]
fn substitutes_set_variables_and_defaults() {
    let text = "a: ${env:REGION}\nb: ${env:MISSING:-fallback}-x\nc: ${env:MISSING:-}\n";
    assert_eq!(
        substitute(text, env),
        (
            "a: \"us-east-1\"\nb: \"fallback-x\"\nc: \"\"\n".to_string(),
            vec![]
        )
    );
}

#[test]
fn leaves_other_references_and_escapes_alone() {
    let text = "topic: gds.${resource:db.system}.$${env:REGION}\n";
    assert_eq!(
        substitute(text, env).0,
        "topic: \"gds.${resource:db.system}.${env:REGION}\"\n"
    );
    let untouched = "topic: gds.${resource:db.system} # ${env:REGION}\n";
    assert_eq!(substitute(untouched, env), (untouched.to_string(), vec![]));
}

#[test]
fn reports_every_unset_variable_with_its_line() {
    let (text, problems) = substitute("a: 1\nb: ${env:ONE}\nc: ${env:TWO} ${env:REGION}\n", env);
    assert_eq!(text, "a: 1\nb: \"\"\nc: \" us-east-1\"\n");
    assert_eq!(
        problems,
        vec![
            EnvProblem {
                line: 2,
                error: EnvError::Unset("ONE".into()),
            },
            EnvProblem {
                line: 3,
                error: EnvError::Unset("TWO".into()),
            },
        ]
    );
}

#[test]
fn a_value_with_a_line_break_cannot_add_a_key() {
    let text = "topic: ${env:FOO}\nencoding: otlp_proto\n";
    let exporter: Exporter = parse(text, "x\n    encoding: otlp_json");
    assert_eq!(exporter.topic, "x\n    encoding: otlp_json");
    assert_eq!(exporter.encoding.as_deref(), Some("otlp_proto"));
    // Nested, where the indentation would have matched the exporter's keys.
    let nested = "exporter:\n  topic: ${env:FOO}\n";
    let parsed: BTreeMap<String, Exporter> = parse(nested, "x\n  encoding: otlp_json");
    assert_eq!(parsed["exporter"].encoding, None);
}

#[test]
fn a_value_with_a_hash_is_not_a_comment() {
    let exporter: Exporter = parse("topic: ${env:FOO}\n", "x # note");
    assert_eq!(exporter.topic, "x # note");
}

#[test]
fn a_value_with_a_colon_is_not_a_mapping_and_errors_keep_their_line() {
    let exporter: Exporter = parse("topic: ${env:FOO}\n", "a: b");
    assert_eq!(exporter.topic, "a: b");
    let text = "topic: ${env:FOO}\nencodng: x\n";
    let (text, _) = substitute(text, with("a: b"));
    let error = serde_saphyr::from_str::<Exporter>(&text).unwrap_err();
    assert!(
        error.to_string().contains("line 2"),
        "the unknown key is on line 2: {error}"
    );
}

const HOSTILE: &[&str] = &[
    "\"",
    "\\",
    "'",
    "#",
    " # x",
    ": ",
    "a: b",
    "{",
    "}",
    "[",
    "]",
    ",",
    "*",
    "&",
    "!",
    "!!int",
    "|",
    ">",
    "%",
    "@",
    "`",
    "---",
    "...",
    "- x",
    "? x",
    " lead",
    "trail ",
    "  ",
    "",
    "\t",
    "\r\n",
    "\n---\nother: 1",
    "null",
    "~",
    "\u{85}\u{2028}\u{2029}\u{feff}\u{7}",
    "ü𝄞",
    "${env:FOO}",
    "$${",
    "\u{F0000}",
];

#[test]
fn hostile_values_are_literal_in_every_kind_of_scalar() {
    let contexts = [
        ("topic: ${env:FOO}\n", "", ""),
        ("topic: pre-${env:FOO}-post\n", "pre-", "-post"),
        ("topic: 'pre ''${env:FOO}'\n", "pre '", ""),
        ("topic: \"\\t${env:FOO}\\\"\"\n", "\t", "\""),
        ("topic: ${env:FOO} # a comment\n", "", ""),
        ("{ topic: ${env:FOO}, encoding: kept }\n", "", ""),
        ("{ topic: \"${env:FOO}\", encoding: kept }\n", "", ""),
    ];
    for value in HOSTILE {
        for (text, before, after) in contexts {
            let text = if text.starts_with('{') {
                text.to_string()
            } else {
                format!("{text}encoding: kept\n")
            };
            let exporter: Exporter = parse(&text, value);
            assert_eq!(
                exporter,
                Exporter {
                    topic: format!("{before}{value}{after}"),
                    encoding: Some("kept".into()),
                },
                "{value:?} in {text:?}"
            );
        }
        let list: BTreeMap<String, Vec<String>> = parse("brokers: [a, ${env:FOO}, b]\n", value);
        assert_eq!(list["brokers"], ["a", value, "b"], "{value:?}");
        let keyed: BTreeMap<String, String> = parse("${env:FOO}: 1\nb: 2\n", value);
        assert_eq!(keyed.len(), 2, "{value:?}");
        assert_eq!(keyed[*value], "1", "{value:?}");
    }
}

#[test]
fn numbers_and_booleans_still_read_as_their_type() {
    #[derive(Deserialize)]
    struct Typed {
        port: u16,
        on: bool,
        endpoint: String,
        size: bytesize::ByteSize,
    }
    let text = "port: ${env:FOO}\non: ${env:ON:-true}\nendpoint: \"127.0.0.1:${env:FOO:-4318}\"\nsize: ${env:SIZE:-1 MiB}\n";
    let typed: Typed = parse(text, "4318");
    assert_eq!(typed.port, 4318);
    assert!(typed.on);
    assert_eq!(typed.endpoint, "127.0.0.1:4318");
    assert_eq!(typed.size, bytesize::ByteSize::mib(1));
    let (text, _) = substitute("port: ${env:FOO}\n", with("true"));
    assert!(serde_saphyr::from_str::<BTreeMap<String, u16>>(&text).is_err());
}

#[test]
fn a_rewritten_scalar_keeps_its_line_breaks() {
    let text = "a:\n  topic: \"first ${env:FOO}\n    second\n\n    third\"\n  encodng: x\n";
    let (substituted, problems) = substitute(text, with("v"));
    assert_eq!(problems, vec![]);
    assert_eq!(substituted.lines().count(), text.lines().count());
    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        a: Exporter,
    }
    let error = serde_saphyr::from_str::<Outer>(&substituted).unwrap_err();
    assert!(error.to_string().contains("line 6"), "{error}");
    let plain = "topic: first ${env:FOO}\n  second\nencoding: e\n";
    let exporter: Exporter = parse(plain, "v");
    assert_eq!(exporter.topic, "first v second");
    assert_eq!(exporter.encoding.as_deref(), Some("e"));
}

#[test]
fn a_reference_in_a_block_scalar_is_an_error_with_its_line() {
    let (_, problems) = substitute("a: 1\nb: |\n  x ${env:FOO}\n", with("v"));
    assert_eq!(
        problems,
        vec![EnvProblem {
            line: 3,
            error: EnvError::InBlockScalar("FOO".into()),
        }]
    );
}

#[test]
fn a_syntax_error_leaves_the_rest_as_written() {
    let text = "a: ${env:FOO}\nb: [unclosed\nc: ${env:FOO}\n";
    let (substituted, _) = substitute(text, with("v"));
    assert_eq!(substituted, "a: \"v\"\nb: [unclosed\nc: ${env:FOO}\n");
}
