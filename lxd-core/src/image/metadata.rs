//! `metadata.yaml`: the image's architecture, dates, properties and template rules, with the
//! checks LXD makes on import (`getImageMetadata` in `lxd/images.go`): a known architecture and
//! a creation date.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compression::open_tarball;
use super::unpack::normalize_entry;
use super::{ImageError, ImageFiles, Result};

/// LXD refuses a `metadata.yaml` larger than this (`util.MaxYAMLFileBytes`).
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;

/// The contents of an image's `metadata.yaml` (LXD's `api.ImageMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageMetadata {
    /// The architecture name (`x86_64`, `aarch64`, or an alias LXD knows such as `amd64`).
    pub architecture: String,
    /// Creation time, seconds since the epoch; LXD requires it to be set.
    pub creation_date: i64,
    /// Expiry time, seconds since the epoch; 0 when the image does not expire.
    pub expiry_date: i64,
    /// Descriptive properties (`os`, `release`, `description`, ...).
    pub properties: BTreeMap<String, String>,
    /// Template rules, keyed by the path of the generated file inside the instance.
    pub templates: BTreeMap<String, TemplateEntry>,
}

/// A template rule of `metadata.yaml` (LXD's `api.ImageMetadataTemplate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateEntry {
    /// The triggers that apply it: `create`, `copy`, `start` (and `rename`).
    pub when: Vec<String>,
    /// Only create the file when it does not exist; never overwrite it.
    pub create_only: bool,
    /// The template's file name inside `templates/`.
    pub template: String,
    /// Properties passed to the template as `properties`.
    pub properties: BTreeMap<String, String>,
}

/// LXD's architecture names and the aliases it accepts for each (`shared/osarch`).
const ARCHITECTURES: &[(&str, &[&str])] = &[
    ("i686", &["i386", "i586", "386", "x86", "generic_32"]),
    ("x86_64", &["amd64", "amd64v3", "generic_64"]),
    ("armv6l", &["armel", "arm"]),
    (
        "armv7l",
        &[
            "armhf",
            "armhfp",
            "armv7a_hardfp",
            "armv7",
            "armv7a_vfpv3_hardfp",
        ],
    ),
    ("armv8l", &[]),
    ("aarch64", &["arm64", "arm64_generic"]),
    ("ppc", &["powerpc"]),
    ("ppc64", &["powerpc64"]),
    ("ppc64le", &["ppc64el"]),
    ("s390x", &[]),
    ("mips", &["mipsel", "mipsle"]),
    ("mips64", &["mips64el", "mips64le"]),
    ("riscv32", &[]),
    ("riscv64", &[]),
    ("loongarch64", &["loong64"]),
];

/// LXD's name for an architecture name or alias (`amd64` → `x86_64`); `None` when LXD does not
/// know it. Like LXD, only the first word counts (broken metadata says `x86_64 x86_64`).
pub fn architecture_name(arch: &str) -> Option<&'static str> {
    let arch = arch.split_whitespace().next()?;
    ARCHITECTURES
        .iter()
        .find(|(name, aliases)| *name == arch || aliases.contains(&arch))
        .map(|(name, _)| *name)
}

/// LXD's name for the architecture this program runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loongarch64",
        other => architecture_name(other).unwrap_or("x86_64"),
    }
}

impl ImageMetadata {
    /// Parses and checks `metadata.yaml`; `path` names the file it came from in errors.
    pub fn parse(yaml: &[u8], path: &Path) -> Result<Self> {
        let meta: ImageMetadata = yaml_serde::from_slice(yaml)
            .map_err(|e| ImageError::invalid(path, format!("metadata.yaml: {e}")))?;
        meta.validate(path)?;
        Ok(meta)
    }

    /// Checks what LXD checks on import: a known architecture and a creation date. Like LXD,
    /// template rules are not checked here (a rule with an unknown trigger never fires).
    pub fn validate(&self, path: &Path) -> Result<()> {
        if architecture_name(&self.architecture).is_none() {
            return Err(ImageError::invalid(
                path,
                format!(
                    "metadata.yaml: architecture {:?} is not supported",
                    self.architecture
                ),
            ));
        }
        if self.creation_date == 0 {
            return Err(ImageError::invalid(
                path,
                "metadata.yaml: missing creation date",
            ));
        }
        Ok(())
    }

    /// The YAML text of this metadata, as written into images.
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).expect("metadata serialises to YAML")
    }
}

/// Reads `metadata.yaml` from the image's (possibly compressed) unified or metadata tarball,
/// without unpacking anything else: reading stops at that entry.
pub fn read_metadata(files: &ImageFiles) -> Result<ImageMetadata> {
    let path = files.metadata_file();
    let (reader, _) = open_tarball(path)?;
    let mut archive = tar::Archive::new(reader);
    let bad = |e: std::io::Error| ImageError::invalid(path, format!("reading the tarball: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path_bytes().into_owned();
        let Ok(components) = normalize_entry(&raw) else {
            continue;
        };
        if components != [b"metadata.yaml".as_slice()] {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(ImageError::invalid(
                path,
                "metadata.yaml is not a regular file",
            ));
        }
        if entry.size() > MAX_METADATA_BYTES {
            return Err(ImageError::invalid(
                path,
                format!("metadata.yaml is larger than {MAX_METADATA_BYTES} bytes"),
            ));
        }
        let mut yaml = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut yaml).map_err(bad)?;
        return ImageMetadata::parse(&yaml, path);
    }
    Err(ImageError::invalid(
        path,
        "the tarball has no metadata.yaml",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lxd_metadata() {
        let yaml = b"architecture: amd64\ncreation_date: 1424284563\nproperties:\n  os: Ubuntu\n  release: 24.04\n  serial: 20240101\ntemplates:\n  /etc/hostname:\n    when:\n      - create\n      - copy\n    template: hostname.tpl\n  /etc/network/interfaces:\n    when: [create]\n    template: interfaces.tpl\n    create_only: true\n    properties:\n      foo: bar\n";
        let m = ImageMetadata::parse(yaml, Path::new("meta")).unwrap();
        assert_eq!(m.architecture, "amd64");
        assert_eq!(architecture_name(&m.architecture), Some("x86_64"));
        assert_eq!(m.properties["release"], "24.04");
        assert_eq!(m.properties["serial"], "20240101");
        let t = &m.templates["/etc/network/interfaces"];
        assert!(t.create_only);
        assert_eq!(t.properties["foo"], "bar");
        assert_eq!(m.templates["/etc/hostname"].when, ["create", "copy"]);
        let again = ImageMetadata::parse(m.to_yaml().as_bytes(), Path::new("meta")).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn refuses_what_lxd_refuses() {
        let e = ImageMetadata::parse(b"architecture: vax\ncreation_date: 1\n", Path::new("m"))
            .unwrap_err();
        assert!(e.to_string().contains("vax"), "{e}");
        let e = ImageMetadata::parse(b"architecture: x86_64\n", Path::new("m")).unwrap_err();
        assert!(e.to_string().contains("creation date"), "{e}");
        assert!(ImageMetadata::parse(b"\x00\x01garbage: [", Path::new("m")).is_err());
    }
}
