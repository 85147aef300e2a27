//! Projects and their resource usage.

use super::{nullable, ConfigMap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fields of a new LXD project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectsPost {
    /// Project configuration map (refer to doc/projects.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the project.
    pub description: String,
    /// The name of the new project.
    pub name: String,
}

/// Fields required to rename a LXD project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectPost {
    /// The new name for the project.
    pub name: String,
}

/// Modifiable fields of a LXD project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectPut {
    /// Project configuration map (refer to doc/projects.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the project.
    pub description: String,
}

/// A LXD project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Project {
    /// Project configuration map (refer to doc/projects.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the project.
    pub description: String,
    /// The project name.
    pub name: String,
    /// List of URLs of objects using this project.
    #[serde(deserialize_with = "nullable")]
    pub used_by: Vec<String>,
}

/// Current running state of a LXD project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectState {
    /// Allocated and used resources.
    #[serde(deserialize_with = "nullable")]
    pub resources: BTreeMap<String, ProjectStateResource>,
}

/// State of a particular resource in a LXD project.
///
/// LXD writes these two fields capitalized (`Limit`, `Usage`); lower case is accepted too, as
/// Go matches names case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectStateResource {
    /// Limit for the resource (-1 if none).
    #[serde(rename = "Limit", alias = "limit")]
    pub limit: i64,
    /// Current usage for the resource.
    #[serde(rename = "Usage", alias = "usage")]
    pub usage: i64,
}

impl Project {
    /// The modifiable fields, as `PUT /1.0/projects/NAME` takes them.
    pub fn writable(&self) -> ProjectPut {
        ProjectPut {
            config: self.config.clone(),
            description: self.description.clone(),
        }
    }
}
