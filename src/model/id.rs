//! `type/name` component ids, as in the OpenTelemetry Collector: `kafka`, `kafka/dlq`, and the
//! three kinds of component.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("expected an id of the form type or type/name, found an empty string")]
    Empty,
    #[error(
        "expected a type of lowercase letters, digits and underscores before the '/', found {0:?}"
    )]
    BadType(String),
    #[error("expected a name after the '/', found nothing")]
    EmptyName,
}

impl ComponentId {
    pub fn parse(id: &str) -> Result<ComponentId, IdError> {
        let (type_name, name) = match id.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (id, None),
        };
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        let type_ok = !type_name.is_empty()
            && type_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !type_ok {
            return Err(IdError::BadType(type_name.to_string()));
        }
        if name.is_some_and(str::is_empty) {
            return Err(IdError::EmptyName);
        }
        Ok(ComponentId {
            type_name: type_name.to_string(),
            name: name.map(str::to_string),
        })
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A file or directory name for this id's default files, one per id: `kafka-dlq` for
    /// `kafka/dlq` (the name every id without a '/' in its name always had, so upgrades find
    /// their data). A name with a '/' cannot turn it into '-' (`kafka/a/b` and `kafka/a-b` would
    /// share one), so it is percent-encoded behind a leading `~`, which no type starts with:
    /// `~kafka-a%2Fb`.
    pub fn file_name(&self) -> String {
        match &self.name {
            None => self.type_name.clone(),
            Some(name) if !name.contains('/') => format!("{}-{name}", self.type_name),
            Some(name) => {
                let encoded = name.replace('%', "%25").replace('/', "%2F");
                format!("~{}-{encoded}", self.type_name)
            }
        }
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.type_name, name),
            None => f.write_str(&self.type_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_optional_name() {
        let id = ComponentId::parse("kafka/dlq").unwrap();
        assert_eq!((id.type_name(), id.name()), ("kafka", Some("dlq")));
        assert_eq!(id.to_string(), "kafka/dlq");
        let id = ComponentId::parse("batch").unwrap();
        assert_eq!((id.type_name(), id.name()), ("batch", None));
        assert_eq!(
            ComponentId::parse("tag/prod/eu").unwrap().name(),
            Some("prod/eu")
        );
    }

    #[test]
    fn file_names_keep_the_old_form_and_tell_every_id_apart() {
        let name = |id: &str| ComponentId::parse(id).unwrap().file_name();
        assert_eq!(name("kafka"), "kafka");
        assert_eq!(name("kafka/dlq"), "kafka-dlq");
        assert_eq!(name("kafka/a-b"), "kafka-a-b");
        assert_eq!(name("kafka/a/b"), "~kafka-a%2Fb");
        assert_ne!(name("kafka/a%2Fb"), name("kafka/a/b"));
        assert_ne!(name("kafka/a%2F/b"), name("kafka/a/%2Fb"));
        assert!(!name("kafka/../../etc").contains('/'));
    }

    #[test]
    fn rejects_malformed_ids() {
        assert_eq!(ComponentId::parse(""), Err(IdError::Empty));
        assert_eq!(ComponentId::parse("/x"), Err(IdError::BadType("".into())));
        assert_eq!(
            ComponentId::parse("Kafka"),
            Err(IdError::BadType("Kafka".into()))
        );
        assert_eq!(ComponentId::parse("kafka/"), Err(IdError::EmptyName));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Receiver, Kind::Processor, Kind::Exporter];

    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
        }
    }
}
