//! Config errors: each names its YAML path and, where known, its line and column.

use std::fmt;

use serde_saphyr::Location;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub line: Option<(u64, u64)>,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, location: Location) -> ConfigError {
        if location.line() > 0 {
            self.line = Some((location.line(), location.column()));
        }
        self
    }

    /// Turns a parser error into a config error under `path`, keeping its location and adding
    /// a did-you-mean to an unknown field.
    pub fn from_yaml(path: impl Into<String>, error: &serde_saphyr::Error) -> ConfigError {
        let inner = error.without_snippet();
        let mut message = strip_location_suffix(&inner.to_string());
        if let Some(hint) = unknown_field_hint(&message) {
            message.push_str(&hint);
        }
        let config_error = ConfigError::new(path, message);
        match inner.location() {
            Some(location) => config_error.at(location),
            None => config_error,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.line {
            write!(f, "line {line}, column {column}: ")?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every error found in one file, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        let noun = if count == 1 { "error" } else { "errors" };
        write!(f, "{}: {count} {noun}", self.file)?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// The closest candidate within a small edit distance, for a "did you mean" hint.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(wrong, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Parsers word it "unknown field `brokerz`, expected one of brokers, topic" (the names
/// quoted in backticks or not).
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (wrong, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected ")?;
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let candidates = expected.split(", ").map(|c| c.trim_matches('`'));
    let suggestion = did_you_mean(wrong, candidates)?;
    Some(format!("; did you mean `{suggestion}`?"))
}

fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_candidate() {
        assert_eq!(did_you_mean("kafak", ["kafka", "file"]), Some("kafka"));
        assert_eq!(did_you_mean("zzzzzz", ["kafka", "file"]), None);
    }

    #[test]
    fn adds_a_hint_to_unknown_fields() {
        assert_eq!(
            unknown_field_hint("unknown field `brokerz`, expected one of `brokers`, `topic`"),
            Some("; did you mean `brokers`?".to_string())
        );
        assert_eq!(
            unknown_field_hint("unknown field `topik`, expected one of brokers, topic"),
            Some("; did you mean `topic`?".to_string())
        );
        assert_eq!(unknown_field_hint("invalid type: string"), None);
    }

    #[test]
    fn lists_every_error_under_the_file_name() {
        let errors = ConfigErrors {
            file: "collector.yaml".into(),
            errors: vec![
                ConfigError {
                    path: "exporters.kafka".into(),
                    line: Some((3, 5)),
                    message: "expected at least one broker".into(),
                },
                ConfigError::new("service", "missing field `pipelines`"),
            ],
        };
        assert_eq!(
            errors.to_string(),
            "collector.yaml: 2 errors\n  line 3, column 5: exporters.kafka: expected at least one broker\n  service: missing field `pipelines`"
        );
    }
}
