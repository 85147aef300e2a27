//! Profiles.

use super::{nullable, ConfigMap, Devices};
use serde::{Deserialize, Serialize};

/// Fields of a new LXD profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfilesPost {
    /// Instance configuration map (refer to doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the profile.
    pub description: String,
    /// List of devices.
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// The name of the new profile.
    pub name: String,
}

/// Fields required to rename a LXD profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfilePost {
    /// The new name for the profile.
    pub name: String,
}

/// Modifiable fields of a LXD profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfilePut {
    /// Instance configuration map (refer to doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the profile.
    pub description: String,
    /// List of devices.
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
}

/// A LXD profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// Instance configuration map (refer to doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the profile.
    pub description: String,
    /// List of devices.
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// The profile name.
    pub name: String,
    /// List of URLs of objects using this profile.
    #[serde(deserialize_with = "nullable")]
    pub used_by: Vec<String>,
}

impl Profile {
    /// The modifiable fields, as `PUT /1.0/profiles/NAME` takes them.
    pub fn writable(&self) -> ProfilePut {
        ProfilePut {
            config: self.config.clone(),
            description: self.description.clone(),
            devices: self.devices.clone(),
        }
    }
}
