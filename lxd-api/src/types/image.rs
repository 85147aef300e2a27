//! Images: records, creation and export requests, aliases and the image tarball's metadata.

use super::{is_default, nullable, ConfigMap, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fields required to export a LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageExportPost {
    /// Target server URL.
    pub target: String,
    /// Image receive secret.
    pub secret: String,
    /// Remote server certificate.
    pub certificate: String,
    /// List of aliases to set on the image.
    #[serde(deserialize_with = "nullable")]
    pub aliases: Vec<ImageAlias>,
    /// Project name.
    pub project: String,
    /// List of profiles to use (LXD 5.0.2's `image_copy_profile`).
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
}

/// Fields available for a new LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagesPost {
    /// Whether the image should auto-update when a new build is available.
    pub auto_update: bool,
    /// Descriptive properties.
    #[serde(deserialize_with = "nullable")]
    pub properties: ConfigMap,
    /// Whether the image is available to unauthenticated users.
    pub public: bool,
    /// When the image becomes obsolete.
    pub expires_at: Timestamp,
    /// List of profiles to use when creating from this image (if none provided by user).
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// Original filename of the image.
    pub filename: String,
    /// Source of the image.
    pub source: Option<ImagesPostSource>,
    /// Compression algorithm to use when turning an instance into an image.
    pub compression_algorithm: String,
    /// Aliases to add to the image.
    #[serde(deserialize_with = "nullable")]
    pub aliases: Vec<ImageAlias>,
}

/// Source of a new LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagesPostSource {
    /// Source alias to download from.
    pub alias: String,
    /// Source server certificate (if not trusted by system CA).
    pub certificate: String,
    /// Source server protocol.
    pub protocol: String,
    /// URL of the source server.
    pub server: String,
    /// Type of image (container or virtual-machine).
    pub image_type: String,
    /// Transfer mode (push or pull).
    pub mode: String,
    /// Type of image source (instance, snapshot, image or url).
    pub r#type: String,
    /// Source URL (for type "url").
    pub url: String,
    /// Instance name (for type "instance" or "snapshot").
    pub name: String,
    /// Source image fingerprint (for type "image").
    pub fingerprint: String,
    /// Source image server secret token (when downloading private images).
    pub secret: String,
    /// Source project name.
    pub project: String,
}

/// Modifiable fields of a LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagePut {
    /// Whether the image should auto-update when a new build is available.
    pub auto_update: bool,
    /// Descriptive properties.
    #[serde(deserialize_with = "nullable")]
    pub properties: ConfigMap,
    /// Whether the image is available to unauthenticated users.
    pub public: bool,
    /// When the image becomes obsolete.
    pub expires_at: Timestamp,
    /// List of profiles to use when creating from this image (if none provided by user).
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
}

/// A LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// Whether the image should auto-update when a new build is available.
    pub auto_update: bool,
    /// Descriptive properties.
    #[serde(deserialize_with = "nullable")]
    pub properties: ConfigMap,
    /// Whether the image is available to unauthenticated users.
    pub public: bool,
    /// When the image becomes obsolete.
    pub expires_at: Timestamp,
    /// List of profiles to use when creating from this image (if none provided by user).
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// List of aliases.
    #[serde(deserialize_with = "nullable")]
    pub aliases: Vec<ImageAlias>,
    /// Architecture.
    pub architecture: String,
    /// Whether the image is an automatically cached remote image.
    pub cached: bool,
    /// Original filename.
    pub filename: String,
    /// Full SHA-256 fingerprint.
    pub fingerprint: String,
    /// Size of the image in bytes.
    pub size: i64,
    /// Where the image came from.
    #[serde(skip_serializing_if = "is_default")]
    pub update_source: Option<ImageSource>,
    /// Type of image (container or virtual-machine).
    pub r#type: String,
    /// When the image was originally created.
    pub created_at: Timestamp,
    /// Last time the image was used.
    pub last_used_at: Timestamp,
    /// When the image was added to this LXD server.
    pub uploaded_at: Timestamp,
}

/// An alias from the alias list of a LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageAlias {
    /// Name of the alias.
    pub name: String,
    /// Description of the alias.
    pub description: String,
}

/// Source of a LXD image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSource {
    /// Source alias to download from.
    pub alias: String,
    /// Source server certificate (if not trusted by system CA).
    pub certificate: String,
    /// Source server protocol.
    pub protocol: String,
    /// URL of the source server.
    pub server: String,
    /// Type of image (container or virtual-machine).
    pub image_type: String,
}

/// A new LXD image alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageAliasesPost {
    /// Alias description.
    pub description: String,
    /// Target fingerprint for the alias.
    pub target: String,
    /// Alias name.
    pub name: String,
    /// Alias type (container or virtual-machine).
    pub r#type: String,
}

/// Required fields to rename a LXD image alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageAliasesEntryPost {
    /// Alias name.
    pub name: String,
}

/// Modifiable fields of a LXD image alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageAliasesEntryPut {
    /// Alias description.
    pub description: String,
    /// Target fingerprint for the alias.
    pub target: String,
}

/// A LXD image alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageAliasesEntry {
    /// Alias description.
    pub description: String,
    /// Target fingerprint for the alias.
    pub target: String,
    /// Alias name.
    pub name: String,
    /// Alias type (container or virtual-machine).
    pub r#type: String,
}

/// LXD image metadata (used in image tarball).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageMetadata {
    /// Architecture name.
    pub architecture: String,
    /// Image creation date (as UNIX epoch).
    pub creation_date: i64,
    /// Image expiry date (as UNIX epoch).
    pub expiry_date: i64,
    /// Descriptive properties.
    #[serde(deserialize_with = "nullable")]
    pub properties: ConfigMap,
    /// Template for files in the image.
    #[serde(deserialize_with = "nullable")]
    pub templates: BTreeMap<String, ImageMetadataTemplate>,
}

/// A template entry in image metadata (used in image tarball).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageMetadataTemplate {
    /// When to trigger the template (create, copy or start).
    #[serde(deserialize_with = "nullable")]
    pub when: Vec<String>,
    /// Whether to trigger only if the file is missing.
    pub create_only: bool,
    /// The template itself as a valid pongo2 template.
    pub template: String,
    /// Key/value properties to pass to the template.
    #[serde(deserialize_with = "nullable")]
    pub properties: ConfigMap,
}

impl Image {
    /// The modifiable fields, as `PUT /1.0/images/FINGERPRINT` takes them.
    pub fn writable(&self) -> ImagePut {
        ImagePut {
            auto_update: self.auto_update,
            properties: self.properties.clone(),
            public: self.public,
            expires_at: self.expires_at.clone(),
            profiles: self.profiles.clone(),
        }
    }
}
