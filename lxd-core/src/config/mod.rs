//! Instance configuration as LXD names it: the key table, validation, and the typed views
//! (resource limits, security settings, environment) the runtime applies.

mod keys;
mod limits;
pub mod units;

pub use keys::{validate_key, validate_name, KeyKind};
pub use limits::{CpuAllowance, CpuLimit, MemoryLimit, ResourceLimits};

use std::collections::BTreeMap;

/// A rejected configuration key or value. The messages follow LXD's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The key is not an instance configuration key.
    #[error("Unknown configuration key: {key}")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// The value is not valid for the key.
    #[error("Invalid value for configuration key {key:?}: {value:?}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },
    /// Two keys contradict each other.
    #[error("Invalid configuration: {0}")]
    Conflict(String),
}

impl ConfigError {
    /// An invalid value error for `key` = `value`.
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// An instance's configuration: LXD's flat map of keys to string values, validated on
/// construction and on every change.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct InstanceConfig(BTreeMap<String, String>);

impl InstanceConfig {
    /// Validates every key and value; an empty value means "unset" and is dropped, as in LXD.
    pub fn new(map: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut map = map;
        map.retain(|_, v| !v.is_empty());
        for (k, v) in &map {
            validate_key(k, v)?;
        }
        let config = InstanceConfig(map);
        config.limits()?;
        config.check_conflicts()?;
        Ok(config)
    }

    /// Builds a validated configuration from `(key, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        Self::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Sets one key (an empty value unsets it) after validating it against the rest.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let mut next = self.0.clone();
        if value.is_empty() {
            next.remove(key);
        } else {
            next.insert(key.to_string(), value.to_string());
        }
        *self = Self::new(next)?;
        Ok(())
    }

    /// The value of a key, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean key, with LXD's spellings (`true`, `1`, `yes`, `on`).
    pub fn get_bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(keys::is_true)
    }

    /// All keys and values.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The resource limits (`limits.*`).
    pub fn limits(&self) -> Result<ResourceLimits, ConfigError> {
        ResourceLimits::from_config(self)
    }

    /// The environment for the init and for exec: the `environment.*` keys.
    pub fn environment(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("environment.")
                    .map(|name| (name.to_string(), v.clone()))
            })
            .collect()
    }

    /// Whether the container runs privileged (`security.privileged`).
    pub fn privileged(&self) -> bool {
        self.get_bool("security.privileged")
    }

    fn check_conflicts(&self) -> Result<(), ConfigError> {
        if self.privileged() && self.get_bool("security.idmap.isolated") {
            return Err(ConfigError::Conflict(
                "security.idmap.isolated can't be used with security.privileged".into(),
            ));
        }
        if self.privileged() && self.get("raw.idmap").is_some() {
            return Err(ConfigError::Conflict(
                "raw.idmap can't be used with security.privileged".into(),
            ));
        }
        Ok(())
    }
}
