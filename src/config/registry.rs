//! Each component type described once, in the shape of the OpenTelemetry Collector's
//! `NewFactory(type, createDefaultConfig, WithTraces…)`: its type name and how its config is
//! read (`ComponentType`), the signals it handles, its checks and what it claims (`Component`).
//! Each kind's folder adds what building it takes (a trait of its own that extends
//! `Component`) and lists its types once with `registry!`, which writes the kind's config enum
//! and the one `match` that turns a value of it into the type's description.

use serde::de::{DeserializeOwned, Deserializer};

use super::{Claim, ComponentId, ConfigError};
use crate::model::Signal;

/// The static half of a component type's description.
pub trait ComponentType: Sized + DeserializeOwned {
    /// The name before the `/` in a component id: `kafka` in `kafka/audit`.
    const TYPE: &'static str;

    /// Reads the component's config. A type whose every field has a default overrides this
    /// with `or_default`, so that `batch:` with no body takes the defaults.
    fn read<'de, D: Deserializer<'de>>(config: D) -> Result<Self, D::Error> {
        Self::deserialize(config)
    }
}

/// What every component config answers, whatever its kind.
pub trait Component: std::fmt::Debug + Send + Sync {
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    /// Every problem, each with its path relative to the component.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }

    /// The ports, directories and files it takes for itself alone.
    fn claims(&self, _id: &ComponentId) -> Vec<Claim> {
        Vec::new()
    }
}

/// The config enum of one kind of component and its dispatch, from the list of its types:
///
/// ```ignore
/// registry! {
///     /// doc
///     pub enum ExporterConfig: Exporter as dyn ExporterType {
///         Kafka(kafka::KafkaExporterConfig),
///         File(file::FileExporterConfig),
///     }
///     // The rest of `ComponentConfig` for this kind, written against `self.description()`.
///     extra { fn signals(&self) -> &'static [Signal] { self.description().signals() } ... }
/// }
/// ```
#[macro_export]
macro_rules! registry {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $kind:ident as dyn $description:path {
            $($variant:ident($config:ty)),+ $(,)?
        }
        extra { $($extra:item)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($variant($config)),+
        }

        impl $name {
            /// The type's description: every question about a config goes through here.
            pub fn description(&self) -> &dyn $description {
                match self {
                    $($name::$variant(config) => config),+
                }
            }
        }

        impl $crate::config::ComponentConfig for $name {
            const KIND: $crate::model::Kind = $crate::model::Kind::$kind;
            const TYPES: &'static [&'static str] =
                &[$(<$config as $crate::config::ComponentType>::TYPE),+];

            fn from_type<'de, D: serde::Deserializer<'de>>(
                type_name: &str,
                config: D,
            ) -> Result<Self, D::Error> {
                $(
                    if type_name == <$config as $crate::config::ComponentType>::TYPE {
                        return <$config as $crate::config::ComponentType>::read(config)
                            .map($name::$variant);
                    }
                )+
                Err(serde::de::Error::custom(format!(
                    "unknown {} type {type_name:?}",
                    $crate::model::Kind::$kind.noun()
                )))
            }

            $($extra)*
        }
    };
}
