//! `${env:NAME}` and `${env:NAME:-default}` substitution. A value is always a literal part of
//! the scalar it is written in: it cannot add keys, comments or documents, nor end a quoted
//! string, whatever it contains.
//!
//! How: every reference is first replaced by one private-use character (so that the text
//! parses whatever context the reference sits in, a flow sequence included), the YAML events
//! then give each scalar's parsed value and its span, and every scalar holding a reference is
//! written back as a double-quoted scalar of its substituted value, escaped. The rest of the
//! text is left as written, and a rewritten scalar keeps its line breaks (as escaped breaks,
//! which add nothing to the value), so errors keep the file's line numbers.
//!
//! Quoting does not turn a number into a string for the config: serde-saphyr reads a scalar
//! as the type the field asks for whatever its style, so `port: ${env:PORT}` still reads a
//! `u16` and `enabled: ${env:ON}` a `bool`. An empty value is an empty string, not null.
//!
//! The alternative, a deserializer wrapping serde-saphyr's that substitutes in string values,
//! would see `port: ${env:PORT}` as a string where a `u16` is asked for, and could not keep
//! serde-saphyr's own line numbers for what follows.
//!
//! `$${` escapes a literal `${` in a scalar, references of other kinds (`${resource:...}`) are
//! left for the components that render them, and references in comments are ignored.

use std::fmt::Write;

use granit_parser::{Event, Parser, ScalarStyle};

/// The first of the private-use characters that stand for the references while parsing
/// (plane 15, which no config has a reason to contain).
const PLACEHOLDER_BASE: u32 = 0xF0000;
const MAX_REFERENCES: usize = 0xFFFD;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    pub line: usize,
    pub error: EnvError,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set and has no default (write ${{env:{0}:-default}} to give one)")]
    Unset(String),
    #[error("expected ${{env:{0}}} in a plain or quoted scalar, found it in a block scalar (| or >): write the value as a quoted scalar")]
    InBlockScalar(String),
    #[error("expected at most {MAX_REFERENCES} ${{env:...}} references and no characters of Unicode plane 15, found more")]
    Unsupported,
}

struct Reference<'t> {
    /// As written, for the parts of the text that are not rewritten (comments).
    raw: &'t str,
    name: &'t str,
    default: Option<&'t str>,
    line: usize,
}

/// Returns the substituted text (an unset variable without a default becomes empty, so that
/// parsing can go on and report other errors too) and every problem found.
pub fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (String, Vec<EnvProblem>) {
    if text.chars().any(is_placeholder) {
        let problem = EnvProblem {
            line: 1,
            error: EnvError::Unsupported,
        };
        return (text.to_string(), vec![problem]);
    }
    let (marked, references) = mark_references(text);
    if references.is_empty() && !text.contains("$${") {
        return (text.to_string(), Vec::new());
    }
    if references.len() > MAX_REFERENCES {
        let problem = EnvProblem {
            line: 1,
            error: EnvError::Unsupported,
        };
        return (text.to_string(), vec![problem]);
    }
    let mut problems = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    // A syntax error ends the rewriting: the rest is restored as written and parsing it
    // reports the error.
    for (event, span) in Parser::new_from_str(&marked).map_while(Result::ok) {
        let Event::Scalar(value, style, ..) = event else {
            continue;
        };
        if !value.chars().any(is_placeholder) && !value.contains("$${") {
            continue;
        }
        let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset()) else {
            continue;
        };
        if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
            for reference in placeholders(&value).filter_map(|i| references.get(i)) {
                problems.push(EnvProblem {
                    line: reference.line,
                    error: EnvError::InBlockScalar(reference.name.to_string()),
                });
            }
            continue;
        }
        let mut resolved = String::with_capacity(value.len());
        let mut rest = value.as_ref();
        while let Some(at) = rest.find(|c| is_placeholder(c) || c == '$') {
            resolved.push_str(&rest[..at]);
            let c = rest[at..].chars().next().unwrap_or('$');
            rest = &rest[at + c.len_utf8()..];
            if c == '$' {
                resolved.push('$');
                if let Some(after) = rest.strip_prefix("${") {
                    resolved.push('{');
                    rest = after;
                }
                continue;
            }
            let Some(reference) = references.get((c as u32 - PLACEHOLDER_BASE) as usize) else {
                resolved.push(c);
                continue;
            };
            match (lookup(reference.name), reference.default) {
                (Some(value), _) => resolved.push_str(&value),
                (None, Some(default)) => resolved.push_str(default),
                (None, None) => problems.push(EnvProblem {
                    line: reference.line,
                    error: EnvError::Unset(reference.name.to_string()),
                }),
            }
        }
        resolved.push_str(rest);

        restore(&marked[copied..start], &references, &mut out);
        push_double_quoted(&resolved, &marked[start..end], &mut out);
        copied = end;
    }
    restore(&marked[copied..], &references, &mut out);
    problems.sort_by_key(|p| p.line);
    (out, problems)
}

fn is_placeholder(c: char) -> bool {
    (PLACEHOLDER_BASE..PLACEHOLDER_BASE + 0x10000).contains(&(c as u32))
}

fn placeholders(value: &str) -> impl Iterator<Item = usize> + '_ {
    value
        .chars()
        .filter(|&c| is_placeholder(c))
        .map(|c| (c as u32 - PLACEHOLDER_BASE) as usize)
}

/// Replaces each reference by its placeholder; a reference ends at the first `}` of its line.
fn mark_references(text: &str) -> (String, Vec<Reference<'_>>) {
    let mut marked = String::with_capacity(text.len());
    let mut references = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let escaped = rest[..start].ends_with('$');
            let spec = after
                .strip_prefix("env:")
                .and_then(|spec| spec.find('}').map(|end| &spec[..end]));
            let (false, Some(spec)) = (escaped, spec) else {
                marked.push_str(&rest[..start + 2]);
                rest = after;
                continue;
            };
            let (name, default) = match spec.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (spec, None),
            };
            marked.push_str(&rest[..start]);
            let placeholder = PLACEHOLDER_BASE + references.len().min(MAX_REFERENCES) as u32;
            marked.push(char::from_u32(placeholder).unwrap_or(char::REPLACEMENT_CHARACTER));
            let length = "${env:".len() + spec.len() + "}".len();
            references.push(Reference {
                raw: &rest[start..start + length],
                name,
                default,
                line: index + 1,
            });
            rest = &rest[start + length..];
        }
        marked.push_str(rest);
    }
    (marked, references)
}

/// Copies text that is not part of a rewritten scalar, with its references as written.
fn restore(marked: &str, references: &[Reference], out: &mut String) {
    for c in marked.chars() {
        match references.get((c as u32).wrapping_sub(PLACEHOLDER_BASE) as usize) {
            Some(reference) if is_placeholder(c) => out.push_str(reference.raw),
            _ => out.push(c),
        }
    }
}

/// Writes `value` as a double-quoted scalar in place of `written`, with as many line breaks as
/// `written` had (escaped, so they add nothing) and each continuation line's indentation.
fn push_double_quoted(value: &str, written: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}') => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    for line in written.split('\n').skip(1) {
        out.push_str("\\\n");
        out.push_str(&line[..line.len() - line.trim_start_matches([' ', '\t']).len()]);
    }
    out.push('"');
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
