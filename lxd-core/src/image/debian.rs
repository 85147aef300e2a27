//! Debian images built with `debootstrap --variant=minbase` from the machine's own apt mirror
//! (read from `/etc/apt/sources.list` and `/etc/apt/sources.list.d/`, one-line and deb822
//! formats), packed as a unified xz tarball with the `metadata.yaml` and templates LXD's
//! images carry. Building needs network access to that mirror and takes tens of seconds;
//! [`pack_rootfs`] packs an existing tree the same way without it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::build::{build_unified, ImageBuild, ImageSource};
use super::busybox::{HOSTNAME_TPL, HOSTS_TPL};
use super::compression::Compression;
use super::metadata::{host_architecture, ImageMetadata, TemplateEntry};
use super::{ImageError, Result};

/// One `deb` source of apt's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The archive's URI (`http://deb.debian.org/debian`).
    pub uri: String,
    /// Its suites (`bookworm`, `bookworm-updates`).
    pub suites: Vec<String>,
    /// Its components (`main`).
    pub components: Vec<String>,
}

/// Parses apt sources: the one-line format (`deb [opts] URI SUITE COMPONENT...`) or, with
/// `deb822`, the `Types:`/`URIs:`/`Suites:`/`Components:` stanzas of `.sources` files. Only
/// `deb` (binary) entries are returned.
pub fn parse_sources(text: &str, deb822: bool) -> Vec<AptSource> {
    let mut out = Vec::new();
    if deb822 {
        for stanza in text.split("\n\n") {
            let mut fields: BTreeMap<String, String> = BTreeMap::new();
            let mut last: Option<String> = None;
            for line in stanza.lines() {
                if line.trim_start().starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                if line.starts_with([' ', '\t']) {
                    if let Some(k) = &last {
                        let v = fields.entry(k.clone()).or_default();
                        v.push(' ');
                        v.push_str(line.trim());
                    }
                    continue;
                }
                if let Some((k, v)) = line.split_once(':') {
                    let k = k.trim().to_ascii_lowercase();
                    fields.insert(k.clone(), v.trim().to_string());
                    last = Some(k);
                }
            }
            let words = |k: &str| -> Vec<String> {
                fields
                    .get(k)
                    .map(|v| v.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            };
            if fields.get("enabled").is_some_and(|v| v == "no")
                || !words("types").iter().any(|t| t == "deb")
            {
                continue;
            }
            for uri in words("uris") {
                out.push(AptSource {
                    uri,
                    suites: words("suites"),
                    components: words("components"),
                });
            }
        }
    } else {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut rest = match line.strip_prefix("deb ") {
                Some(r) => r.trim_start(),
                None => continue,
            };
            if rest.starts_with('[') {
                match rest.find(']') {
                    Some(end) => rest = rest[end + 1..].trim_start(),
                    None => continue,
                }
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() < 2 {
                continue;
            }
            out.push(AptSource {
                uri: words[0].to_string(),
                suites: vec![words[1].to_string()],
                components: words[2..].iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    out
}

/// Picks the Debian archive mirror for `suite` among `sources`: an entry with `main` that
/// lists the suite itself, else one whose URI ends in `/debian`; security archives never.
pub fn pick_mirror(sources: &[AptSource], suite: &str) -> Option<String> {
    let usable = |s: &&AptSource| {
        s.components.iter().any(|c| c == "main")
            && !s.uri.contains("security")
            && !s.suites.iter().any(|x| x.ends_with("-security"))
    };
    sources
        .iter()
        .filter(usable)
        .find(|s| s.suites.iter().any(|x| x == suite))
        .or_else(|| {
            sources
                .iter()
                .filter(usable)
                .find(|s| s.uri.trim_end_matches('/').ends_with("/debian"))
        })
        .map(|s| s.uri.clone())
}

/// The Debian mirror apt uses on this machine, for `suite`.
pub fn apt_mirror(suite: &str) -> Result<String> {
    let mut sources = Vec::new();
    let main = Path::new("/etc/apt/sources.list");
    if let Ok(text) = std::fs::read_to_string(main) {
        sources.extend(parse_sources(&text, false));
    }
    let dir = Path::new("/etc/apt/sources.list.d");
    if let Ok(list) = std::fs::read_dir(dir) {
        let mut paths: Vec<PathBuf> = list.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let deb822 = match p.extension().and_then(|e| e.to_str()) {
                Some("sources") => true,
                Some("list") => false,
                _ => continue,
            };
            let text = std::fs::read_to_string(&p).map_err(|e| ImageError::io(&p, e))?;
            sources.extend(parse_sources(&text, deb822));
        }
    }
    pick_mirror(&sources, suite).ok_or_else(|| {
        ImageError::invalid(
            main,
            format!("no Debian mirror with main for {suite:?} in /etc/apt/sources.list or sources.list.d"),
        )
    })
}

/// The `metadata.yaml` and templates of a Debian image for `suite`.
pub fn image_metadata(suite: &str) -> (ImageMetadata, BTreeMap<String, String>) {
    let arch = host_architecture();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(1);
    let rule = |tpl: &str| TemplateEntry {
        when: vec!["create".into(), "copy".into()],
        create_only: false,
        template: tpl.into(),
        properties: BTreeMap::new(),
    };
    let meta = ImageMetadata {
        architecture: arch.to_string(),
        creation_date: now,
        expiry_date: 0,
        properties: BTreeMap::from([
            ("os".to_string(), "debian".to_string()),
            ("release".to_string(), suite.to_string()),
            ("architecture".to_string(), arch.to_string()),
            ("variant".to_string(), "minbase".to_string()),
            (
                "description".to_string(),
                format!("Debian {suite} {arch} (minbase)"),
            ),
        ]),
        templates: BTreeMap::from([
            ("/etc/hostname".to_string(), rule("hostname.tpl")),
            ("/etc/hosts".to_string(), rule("hosts.tpl")),
        ]),
    };
    let templates = BTreeMap::from([
        ("hostname.tpl".to_string(), HOSTNAME_TPL.to_string()),
        ("hosts.tpl".to_string(), HOSTS_TPL.to_string()),
    ]);
    (meta, templates)
}

/// Packs the Debian root file system `rootfs` as the unified image `out` for `suite`.
pub fn pack_rootfs(rootfs: &Path, out: &Path, suite: &str) -> Result<ImageBuild> {
    let (meta, templates) = image_metadata(suite);
    let src = ImageSource {
        rootfs,
        metadata: &meta,
        templates: &templates,
    };
    build_unified(&src, out, Compression::Xz)
}

/// A debootstrap target next to the image; on drop, whatever is mounted under it is
/// unmounted (debootstrap mounts `/proc` and `/sys` and may leave them on failure) and it is
/// removed.
struct Target(PathBuf);

impl Drop for Target {
    fn drop(&mut self) {
        let mut mounts: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| PathBuf::from(unescape_mount(m)))
            .filter(|m| m.starts_with(&self.0))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
                // SAFETY: `c` is a valid C string; unmounting a path under our own target.
                let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                if r != 0 {
                    tracing::warn!(mount = %m.display(), "could not unmount under a debootstrap target");
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "could not remove a debootstrap target");
            }
        }
    }
}

/// Undoes the octal escapes (`\040`) of `/proc/self/mountinfo`.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Builds a Debian `suite` image at `out` with `debootstrap --variant=minbase` from `mirror`
/// (the machine's apt mirror when `None`), then packs it like [`pack_rootfs`].
pub fn build_image(out: &Path, suite: &str, mirror: Option<&str>) -> Result<ImageBuild> {
    if suite.is_empty()
        || !suite
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ImageError::invalid(
            out,
            format!("bad Debian suite name {suite:?}"),
        ));
    }
    let mirror = match mirror {
        Some(m) => m.to_string(),
        None => apt_mirror(suite)?,
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let target = Target(out.with_file_name(format!(".{name}.debootstrap-{}", std::process::id())));
    let mut cmd = Command::new("debootstrap");
    cmd.args(["--variant=minbase", suite])
        .arg(&target.0)
        .arg(&mirror);
    let line = format!("{cmd:?}");
    tracing::info!(command = %line, "debootstrap");
    let output = cmd.output().map_err(|e| ImageError::Command {
        command: line.clone(),
        reason: format!("cannot run it (is debootstrap installed?): {e}"),
    })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        let log = std::fs::read_to_string(target.0.join("debootstrap/debootstrap.log"))
            .unwrap_or_default();
        let tail: Vec<&str> = text.lines().chain(log.lines()).rev().take(15).collect();
        return Err(ImageError::Command {
            command: line,
            reason: format!(
                "{}: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    pack_rootfs(&target.0, out, suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_from_both_formats() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let s = parse_sources(deb822, true);
        assert_eq!(s.len(), 2);
        assert_eq!(
            pick_mirror(&s, "bookworm").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let list = "# c\ndeb [arch=amd64 signed-by=/x] https://packages.example/apt stable main\n\
                    deb http://mirror.example/debian/ bookworm main contrib\ndeb-src http://x/debian bookworm main\n";
        let s = parse_sources(list, false);
        assert_eq!(s.len(), 2);
        assert_eq!(
            pick_mirror(&s, "bookworm").as_deref(),
            Some("http://mirror.example/debian/")
        );
        assert_eq!(
            pick_mirror(&s, "trixie").as_deref(),
            Some("http://mirror.example/debian/")
        );
        assert_eq!(unescape_mount("/tmp/a\\040b"), "/tmp/a b");
    }
}
