//! Applying an image's templates to an instance volume, as LXD's `templateApplyNow` does:
//! for each rule of `metadata.yaml` whose `when` holds the trigger, render
//! `templates/<template>` into `rootfs/<path>`.
//!
//! The template file must be a regular file inside `templates/` (no symlink, no `..`). The
//! target is resolved inside the root file system as if it were `/` (`openat2` with
//! `RESOLVE_IN_ROOT`): a symlink in the instance resolves inside the instance and can never
//! reach the host. A target that is a directory is an error; an existing file is truncated and
//! rewritten (keeping its owner and mode) unless the rule says `create_only`; a new file is
//! created with mode 0644 and its missing parent directories with mode 0755, owned by the
//! owner of `rootfs/` itself, which is the instance's root as stored on disk (uid 0 for an
//! idmapped rootfs, the mapped uid for a rootfs shifted on disk) as LXD's `rootUID` is.
//! `container.ephemeral` is not provided (the context does not carry it): it reads as empty. A template is rendered completely before its target is
//! touched, so a template error changes nothing in the root file system.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::metadata::{host_architecture, ImageMetadata, MAX_METADATA_BYTES};
use super::openat::{self, Resolve};
use super::pongo::{Template, Vars};
use super::{ImageError, Result};

/// The event that applies templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A new instance was created from the image.
    Create,
    /// An instance was created as a copy of another.
    Copy,
    /// The instance is starting.
    Start,
    /// The instance was renamed.
    Rename,
}

impl Trigger {
    /// The name used in `metadata.yaml` and passed to templates as `trigger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Create => "create",
            Trigger::Copy => "copy",
            Trigger::Start => "start",
            Trigger::Rename => "rename",
        }
    }
}

/// What templates know about the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateContext {
    /// The instance name (`container.name`, `instance.name`).
    pub name: String,
    /// Its architecture name (`container.architecture`).
    pub architecture: String,
    /// `security.privileged` (`container.privileged`: `"true"`/`"false"`).
    pub privileged: bool,
    /// Its expanded configuration (`config`, `config_get`).
    pub config: BTreeMap<String, String>,
    /// `container` (LXD renders templates for containers only).
    pub instance_type: String,
}

impl TemplateContext {
    /// A context for the container `name` on this host's architecture, unprivileged, with no
    /// configuration.
    pub fn new(name: impl Into<String>) -> Self {
        TemplateContext {
            name: name.into(),
            architecture: host_architecture().to_string(),
            privileged: false,
            config: BTreeMap::new(),
            instance_type: "container".into(),
        }
    }

    fn instance_map(&self) -> BTreeMap<String, String> {
        let b = |v: bool| if v { "true" } else { "false" }.to_string();
        BTreeMap::from([
            ("name".to_string(), self.name.clone()),
            ("type".to_string(), self.instance_type.clone()),
            ("architecture".to_string(), self.architecture.clone()),
            ("privileged".to_string(), b(self.privileged)),
        ])
    }
}

fn open_sub(volume: &Path, name: &str) -> Result<Option<OwnedFd>> {
    let root = openat::open_dir(volume).map_err(|e| ImageError::io(volume, e))?;
    match openat::openat(
        root.as_fd(),
        name.as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(ImageError::invalid(
            volume.join(name),
            format!("not a directory of the volume: {e}"),
        )),
    }
}

/// Applies the templates of the volume `volume_dir` (an unpacked image: `metadata.yaml`,
/// `templates/`, `rootfs/`) for `trigger`. A volume without `metadata.yaml` has nothing to
/// apply, as in LXD.
pub fn apply_templates(volume_dir: &Path, trigger: Trigger, ctx: &TemplateContext) -> Result<()> {
    let meta_path = volume_dir.join("metadata.yaml");
    let root = openat::open_dir(volume_dir).map_err(|e| ImageError::io(volume_dir, e))?;
    let meta_fd = match openat::openat(
        root.as_fd(),
        b"metadata.yaml",
        libc::O_RDONLY | libc::O_NOFOLLOW,
        0,
    ) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(ImageError::invalid(&meta_path, format!("cannot open: {e}"))),
    };
    let mut yaml = Vec::new();
    File::from(meta_fd)
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut yaml)
        .map_err(|e| ImageError::io(&meta_path, e))?;
    if yaml.len() as u64 > MAX_METADATA_BYTES {
        return Err(ImageError::invalid(&meta_path, "larger than 1 MiB"));
    }
    let meta: ImageMetadata = yaml_serde::from_slice(&yaml)
        .map_err(|e| ImageError::invalid(&meta_path, e.to_string()))?;
    let rules: Vec<_> = meta
        .templates
        .iter()
        .filter(|(_, rule)| rule.when.iter().any(|w| w == trigger.as_str()))
        .collect();
    if rules.is_empty() {
        return Ok(());
    }
    let rootfs = open_sub(volume_dir, "rootfs")?.ok_or_else(|| {
        ImageError::invalid(volume_dir.join("rootfs"), "the volume has no rootfs")
    })?;
    let templates = open_sub(volume_dir, "templates")?;
    let rootfs_st =
        openat::fstat(rootfs.as_fd()).map_err(|e| ImageError::io(volume_dir.join("rootfs"), e))?;
    let owner = (rootfs_st.st_uid, rootfs_st.st_gid);
    let instance = ctx.instance_map();
    for (target, rule) in rules {
        let terr = |reason: String| ImageError::Template {
            template: rule.template.clone(),
            reason,
        };
        let source = read_template(templates.as_ref().map(|f| f.as_fd()), &rule.template)
            .map_err(|reason| terr(format!("for {target}: {reason}")))?;
        let parsed = Template::parse(&source).map_err(|e| terr(e.to_string()))?;
        let vars = Vars {
            trigger: trigger.as_str(),
            path: target,
            instance: &instance,
            config: &ctx.config,
            properties: &rule.properties,
        };
        let text = parsed.render(&vars).map_err(|e| terr(e.to_string()))?;
        let host = volume_dir
            .join("rootfs")
            .join(target.trim_start_matches('/'));
        write_target(
            rootfs.as_fd(),
            target,
            rule.create_only,
            text.as_bytes(),
            owner,
            &host,
        )?;
        tracing::debug!(target = %target, template = %rule.template, trigger = trigger.as_str(), "template applied");
    }
    Ok(())
}

fn read_template(
    templates: Option<BorrowedFd<'_>>,
    name: &str,
) -> std::result::Result<String, String> {
    let Some(dir) = templates else {
        return Err("the image has no templates/ directory".into());
    };
    if name.is_empty() {
        return Err("the rule names no template file".into());
    }
    let fd = openat::open_resolved(dir, name.as_bytes(), libc::O_RDONLY, 0, Resolve::NoSymlinks)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "the template file is a symlink".to_string(),
            Some(libc::EXDEV) => "the template file is outside templates/".to_string(),
            _ => format!("cannot open the template file: {e}"),
        })?;
    let st = openat::fstat(fd.as_fd()).map_err(|e| e.to_string())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err("the template file is not a regular file".into());
    }
    let mut s = String::new();
    File::from(fd)
        .read_to_string(&mut s)
        .map_err(|e| format!("reading the template file: {e}"))?;
    Ok(s)
}

fn target_error(target: &str, reason: impl std::fmt::Display) -> ImageError {
    ImageError::Template {
        template: target.to_string(),
        reason: reason.to_string(),
    }
}

/// Writes `data` to `target` (a path inside the instance) under `rootfs`.
fn write_target(
    rootfs: BorrowedFd<'_>,
    target: &str,
    create_only: bool,
    data: &[u8],
    owner: (u32, u32),
    host: &PathBuf,
) -> Result<()> {
    let rel = target.trim_start_matches('/');
    let (parent_rel, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(target_error(target, "the target is not a file path"));
    }
    match openat::open_resolved(rootfs, rel.as_bytes(), libc::O_PATH, 0, Resolve::InRoot) {
        Ok(fd) => {
            let st = openat::fstat(fd.as_fd()).map_err(|e| ImageError::write("stat", host, e))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Err(target_error(
                    target,
                    "the target is a directory, not a regular file",
                ));
            }
            if create_only {
                return Ok(());
            }
            let f = openat::open_resolved(
                rootfs,
                rel.as_bytes(),
                libc::O_WRONLY | libc::O_TRUNC,
                0,
                Resolve::InRoot,
            )
            .map_err(|e| ImageError::write("open", host, e))?;
            File::from(f)
                .write_all(data)
                .map_err(|e| ImageError::write("write", host, e))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let parent = make_parents(rootfs, parent_rel, owner, target, host)?;
            let f = openat::openat(
                parent.as_fd(),
                name.as_bytes(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o644,
            )
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST) => target_error(target, "the target is a dangling symlink"),
                _ => ImageError::write("create", host, e),
            })?;
            openat::fchown(f.as_fd(), owner.0, owner.1)
                .map_err(|e| ImageError::write("chown", host, e))?;
            openat::fchmod(f.as_fd(), 0o644).map_err(|e| ImageError::write("chmod", host, e))?;
            File::from(f)
                .write_all(data)
                .map_err(|e| ImageError::write("write", host, e))
        }
        Err(e) => Err(ImageError::write("open", host, e)),
    }
}

/// Opens the directory `parent_rel` inside `rootfs` (resolved in root), creating the missing
/// components (mode 0755, owned by `owner`).
fn make_parents(
    rootfs: BorrowedFd<'_>,
    parent_rel: &str,
    owner: (u32, u32),
    target: &str,
    host: &Path,
) -> Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_DIRECTORY;
    let mut dir = openat::open_resolved(rootfs, b".", flags, 0, Resolve::InRoot)
        .map_err(|e| ImageError::write("open", host, e))?;
    let mut done = String::new();
    for comp in parent_rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if !done.is_empty() {
            done.push('/');
        }
        done.push_str(comp);
        match openat::open_resolved(rootfs, done.as_bytes(), flags, 0, Resolve::InRoot) {
            Ok(fd) => dir = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && comp != ".." => {
                openat::mkdirat(dir.as_fd(), comp.as_bytes(), 0o755).map_err(|e| {
                    match e.raw_os_error() {
                        Some(libc::EEXIST) => {
                            target_error(target, format!("/{done} is a dangling symlink"))
                        }
                        _ => ImageError::write("mkdir", host, e),
                    }
                })?;
                let fd = openat::openat(
                    dir.as_fd(),
                    comp.as_bytes(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )
                .map_err(|e| ImageError::write("open", host, e))?;
                openat::fchown(fd.as_fd(), owner.0, owner.1)
                    .map_err(|e| ImageError::write("chown", host, e))?;
                openat::fchmod(fd.as_fd(), 0o755)
                    .map_err(|e| ImageError::write("chmod", host, e))?;
                dir = fd;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(target_error(target, format!("/{done} is not a directory")))
            }
            Err(e) => return Err(ImageError::write("open", host, e)),
        }
    }
    Ok(dir)
}
