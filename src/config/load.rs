//! Parses the YAML in passes so that every broken component reports its own error with a line
//! number: a skeleton pass finds the sections and component ids, then each component and the
//! `service` section are deserialized on their own from the same text.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::claims::{self, Claim, Claimant};
use super::service::ServiceSection;
use super::{did_you_mean, env, pipelines, ComponentConfig, ComponentId, ConfigError, Document};

type Section = Option<BTreeMap<String, Spanned<IgnoredAny>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Skeleton {
    #[serde(default)]
    receivers: Section,
    #[serde(default)]
    processors: Section,
    #[serde(default)]
    exporters: Section,
    #[allow(dead_code)]
    service: IgnoredAny,
}

/// The components of one section that parsed, by the id as written in the file.
pub(super) struct Parsed<T> {
    pub by_name: BTreeMap<String, (ComponentId, T)>,
    /// Ids that exist in the file but failed to parse: referencing them is not a second error.
    pub broken: Vec<String>,
    pub locations: BTreeMap<String, Location>,
}

pub(super) fn parse<R, P, E>(
    text: &str,
    env_lookup: impl Fn(&str) -> Option<String>,
) -> Result<Document<R, P, E>, Vec<ConfigError>>
where
    R: ComponentConfig,
    P: ComponentConfig,
    E: ComponentConfig,
{
    let (text, problems) = env::substitute(text, env_lookup);
    let mut errors: Vec<ConfigError> = problems
        .into_iter()
        .map(|problem| ConfigError {
            path: String::new(),
            line: Some((problem.line as u64, 1)),
            message: problem.error.to_string(),
        })
        .collect();

    let skeleton: Skeleton = match serde_saphyr::from_str(&text) {
        Ok(skeleton) => skeleton,
        Err(e) => {
            errors.push(ConfigError::from_yaml("", &e));
            return Err(errors);
        }
    };

    let receivers = parse_section::<R>(&text, skeleton.receivers, &mut errors);
    let processors = parse_section::<P>(&text, skeleton.processors, &mut errors);
    let exporters = parse_section::<E>(&text, skeleton.exporters, &mut errors);

    let service = match focus(&text, &["service"], PhantomData::<ServiceSection>) {
        Ok(service) => service,
        Err(e) => {
            errors.push(ConfigError::from_yaml("service", &e));
            None
        }
    };
    let Some(service) = service else {
        return Err(errors);
    };
    let pipelines = pipelines::resolve(&service, &receivers, &processors, &exporters, &mut errors);

    // The agent binds its own telemetry address before any pipeline starts: it comes first.
    let mut claimants: Vec<Claimant> = Claim::socket(
        "telemetry.metrics.address",
        service.telemetry.metrics.address,
    )
    .map(|claim| Claimant {
        location: locate(&text, &["service", "telemetry", "metrics", "address"]),
        owner: "service".into(),
        claim,
    })
    .into_iter()
    .collect();
    let mut component_claims = Vec::new();
    component_claims.extend(claimants_of(&text, &receivers));
    component_claims.extend(claimants_of(&text, &processors));
    component_claims.extend(claimants_of(&text, &exporters));
    component_claims.sort_by_key(|c| c.location.map(|l| (l.line(), l.column())));
    claimants.extend(component_claims);
    errors.extend(claims::clashes(&claimants));

    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.line.is_none(), e.line));
        return Err(errors);
    }
    Ok(Document {
        receivers: receivers.by_name.into_values().collect(),
        processors: processors.by_name.into_values().collect(),
        exporters: exporters.by_name.into_values().collect(),
        pipelines,
        telemetry: service.telemetry,
        shutdown_timeout: service.shutdown_timeout,
        memory_limit: service.memory_limit,
    })
}

fn parse_section<T: ComponentConfig>(
    text: &str,
    section: Section,
    errors: &mut Vec<ConfigError>,
) -> Parsed<T> {
    let kind = T::KIND;
    let mut parsed = Parsed {
        by_name: BTreeMap::new(),
        broken: Vec::new(),
        locations: BTreeMap::new(),
    };
    for (name, value) in section.unwrap_or_default() {
        let path = format!("{}.{name}", kind.section());
        parsed.locations.insert(name.clone(), value.referenced);
        let id = match ComponentId::parse(&name) {
            Ok(id) => id,
            Err(e) => {
                errors.push(ConfigError::new(path, e.to_string()).at(value.referenced));
                parsed.broken.push(name);
                continue;
            }
        };
        if !T::TYPES.contains(&id.type_name()) {
            let hint = did_you_mean(id.type_name(), T::TYPES.iter().copied())
                .map(|s| format!("did you mean {s:?}? "))
                .unwrap_or_default();
            let message = format!(
                "unknown {} type {:?}; {hint}the built-in types are: {}",
                kind.noun(),
                id.type_name(),
                T::TYPES.join(", ")
            );
            errors.push(ConfigError::new(path, message).at(value.referenced));
            parsed.broken.push(name);
            continue;
        }
        let seed = TypedSeed::<T> {
            type_name: id.type_name(),
            config: PhantomData,
        };
        match focus(text, &[kind.section(), &name], seed) {
            Ok(Some(config)) => {
                push_prefixed(errors, &path, value.referenced, config.validate());
                parsed.by_name.insert(name, (id, config));
            }
            Ok(None) => unreachable!("the skeleton pass found {path}"),
            Err(e) => {
                errors.push(ConfigError::from_yaml(path, &e));
                parsed.broken.push(name);
            }
        }
    }
    parsed
}

fn claimants_of<T: ComponentConfig>(text: &str, parsed: &Parsed<T>) -> Vec<Claimant> {
    let section = T::KIND.section();
    parsed
        .by_name
        .iter()
        .flat_map(|(name, (id, config))| {
            config.claims(id).into_iter().map(move |claim| {
                let mut path = vec![section, name.as_str()];
                path.extend(claim.path.split('.'));
                Claimant {
                    location: locate(text, &path).or(parsed.locations.get(name).copied()),
                    owner: format!("{section}.{name}"),
                    claim,
                }
            })
        })
        .collect()
}

/// Where the value at `path` is written; for a default (not written), where its closest
/// written parent is.
fn locate(text: &str, path: &[&str]) -> Option<Location> {
    (1..=path.len()).rev().find_map(|depth| {
        focus(text, &path[..depth], PhantomData::<Spanned<IgnoredAny>>)
            .ok()
            .flatten()
            .map(|spanned| spanned.referenced)
            .filter(|location| location.line() > 0)
    })
}

fn push_prefixed(
    errors: &mut Vec<ConfigError>,
    prefix: &str,
    location: Location,
    found: Vec<ConfigError>,
) {
    for mut error in found {
        if error.line.is_none() {
            error = error.at(location);
        }
        error.path = if error.path.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", error.path)
        };
        errors.push(error);
    }
}

/// Deserializes only the value at `path`, skipping everything else in the document.
fn focus<'de, S>(
    text: &'de str,
    path: &[&str],
    seed: S,
) -> Result<Option<S::Value>, serde_saphyr::Error>
where
    S: DeserializeSeed<'de>,
{
    serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        Focus {
            path,
            inner: Some(seed),
        }
        .deserialize(deserializer)
    })
}

struct Focus<'p, S> {
    path: &'p [&'p str],
    inner: Option<S>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Focus<'_, S> {
    type Value = Option<S::Value>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Focus<'_, S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a mapping with the key {:?}", self.path[0])
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            match self.inner.take() {
                Some(inner) if key == self.path[0] => {
                    found = match &self.path[1..] {
                        [] => Some(map.next_value_seed(inner)?),
                        rest => map.next_value_seed(Focus {
                            path: rest,
                            inner: Some(inner),
                        })?,
                    };
                }
                inner => {
                    self.inner = inner;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

struct TypedSeed<'t, T> {
    type_name: &'t str,
    config: PhantomData<T>,
}

impl<'de, T: ComponentConfig> DeserializeSeed<'de> for TypedSeed<'_, T> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::from_type(self.type_name, deserializer)
    }
}
