//! The tree walk of [`copy_tree`]: directories are read and created by tasks of a rayon pool
//! (each directory a task), regular files copied inline or as their own task when large,
//! hard links deferred until every file exists, and directory metadata applied last.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use nix::errno::Errno;
use rayon::prelude::*;

use super::data::DataCopier;
use super::meta::{self, Kind, Stat, Target};
use super::{CopyOptions, CopyStats, Counters};
use crate::error::{Result, StorageError};

/// Files at least this large get their own task; smaller ones are copied by the directory's.
const SPAWN_FILE_SIZE: u64 = 64 * 1024;

/// Copies the directory tree `src` to `dst`, which must not exist (its parent must) or be an
/// empty directory. Everything below `src` is reproduced (see the [module](crate::copy)
/// documentation); `src`'s own metadata is applied to `dst`.
///
/// On error the copy stops and the error names the path that failed; `dst` is left partly
/// filled for the caller to delete with [`super::remove_tree`].
pub fn copy_tree(src: &Path, dst: &Path, opts: &CopyOptions) -> Result<CopyStats> {
    let started = Instant::now();
    let src_st = meta::lstat(src)?;
    if src_st.kind() != Kind::Dir {
        return Err(StorageError::invalid(
            "copy source",
            src.display().to_string(),
            "not a directory",
        ));
    }
    check_not_inside(src, dst)?;
    let dst_existed = match meta::lstat_opt(dst)? {
        None => {
            mkdir(dst)?;
            false
        }
        Some(st) if st.kind() == Kind::Dir => {
            if !meta::read_dir(dst)?.is_empty() {
                return Err(StorageError::InUse {
                    path: dst.to_path_buf(),
                    reason: "the copy destination is not empty".into(),
                });
            }
            true
        }
        Some(_) => {
            return Err(StorageError::AlreadyExists {
                what: "copy destination (not a directory)",
                path: dst.to_path_buf(),
            })
        }
    };
    if dst_existed {
        strip_foreign_xattrs(src, dst)?;
    }

    let ctx = Ctx {
        opts,
        root_dev: src_st.dev,
        data: DataCopier::new(opts.reflink),
        links: Mutex::new(HashMap::new()),
        deferred_links: Mutex::new(Vec::new()),
        dirs: Mutex::new(vec![(src.to_path_buf(), dst.to_path_buf(), src_st)]),
        counters: Counters::default(),
        error: Mutex::new(None),
        failed: AtomicBool::new(false),
    };
    let threads = opts.thread_count();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("lxd-copy-{i}"))
        .build()
        .map_err(|e| StorageError::io("start copy threads for", src, std::io::Error::other(e)))?;
    pool.install(|| ctx.run(src, dst))?;

    let stats = ctx.stats();
    tracing::debug!(
        src = %src.display(),
        dst = %dst.display(),
        files = stats.files,
        dirs = stats.dirs,
        bytes = stats.bytes,
        reflinked = stats.reflinked,
        threads,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "copied tree"
    );
    Ok(stats)
}

/// Refuses a destination inside the source (the copy would never end).
fn check_not_inside(src: &Path, dst: &Path) -> Result<()> {
    let bad =
        |reason: &str| StorageError::invalid("copy destination", dst.display().to_string(), reason);
    let name = dst.file_name().ok_or_else(|| bad("has no final name"))?;
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = std::fs::canonicalize(parent)
        .map_err(|e| StorageError::io("resolve the parent of", dst, e))?;
    let src = std::fs::canonicalize(src).map_err(|e| StorageError::io("resolve", src, e))?;
    if parent.join(name).starts_with(&src) {
        return Err(bad("is inside the copy source"));
    }
    Ok(())
}

/// Removes from an existing destination root the attributes the source root does not have
/// (a default ACL there would otherwise be inherited by everything the copy creates).
fn strip_foreign_xattrs(src: &Path, dst: &Path) -> Result<()> {
    let src_c = meta::cpath(src)?;
    let dst_c = meta::cpath(dst)?;
    let keep = meta::list_xattrs(Target::Path(&src_c), src)?;
    for name in meta::list_xattrs(Target::Path(&dst_c), dst)? {
        if !keep.contains(&name) {
            meta::remove_xattr(Target::Path(&dst_c), &name, dst)?;
        }
    }
    Ok(())
}

/// `mkdir` with mode 0700 (the final mode is applied once the contents are written).
fn mkdir(path: &Path) -> Result<()> {
    let c = meta::cpath(path)?;
    // SAFETY: `c` is NUL-terminated.
    let ret = unsafe { libc::mkdir(c.as_ptr(), 0o700) };
    Errno::result(ret)
        .map(drop)
        .map_err(|e| StorageError::sys("create directory", path, e))
}

/// The state of one copy, shared by its tasks.
struct Ctx<'a> {
    opts: &'a CopyOptions,
    root_dev: u64,
    data: DataCopier,
    /// First destination path of each multiply-linked source inode, by (device, inode).
    links: Mutex<HashMap<(u64, u64), PathBuf>>,
    /// Hard links to make once every file exists: (existing destination, new name).
    deferred_links: Mutex<Vec<(PathBuf, PathBuf)>>,
    /// Every directory copied: (source, destination, source metadata).
    dirs: Mutex<Vec<(PathBuf, PathBuf, Stat)>>,
    counters: Counters,
    error: Mutex<Option<StorageError>>,
    failed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx<'_> {
    /// The three phases: contents, hard links, directory metadata.
    fn run(&self, src: &Path, dst: &Path) -> Result<()> {
        Counters::add(&self.counters.dirs, 1);
        rayon::scope(|s| self.dir_task(s, src.to_path_buf(), dst.to_path_buf()));
        self.take_error()?;

        let links = std::mem::take(&mut *lock(&self.deferred_links));
        links.par_iter().try_for_each(|(existing, new)| {
            std::fs::hard_link(existing, new).map_err(|e| StorageError::io("hard link", new, e))
        })?;

        let dirs = std::mem::take(&mut *lock(&self.dirs));
        dirs.par_iter()
            .try_for_each(|(src, dst, st)| apply_dir_meta(src, dst, st))
    }

    fn take_error(&self) -> Result<()> {
        match lock(&self.error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fail(&self, e: StorageError) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.failed.store(true, Ordering::Relaxed);
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn stats(&self) -> CopyStats {
        let c = &self.counters;
        let cloned = self.data.cloned.load(Ordering::Relaxed);
        let copied = self.data.copied.load(Ordering::Relaxed);
        CopyStats {
            files: c.files.load(Ordering::Relaxed),
            dirs: c.dirs.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            hardlinks: c.hardlinks.load(Ordering::Relaxed),
            reflinked: cloned > 0 && copied == 0,
        }
    }

    /// One directory: reads it, creates its subdirectories (each then a task of its own) and
    /// copies its other entries.
    fn dir_task<'s>(&'s self, scope: &rayon::Scope<'s>, src: PathBuf, dst: PathBuf) {
        if self.failed() {
            return;
        }
        if let Err(e) = self.copy_dir_entries(scope, &src, &dst) {
            self.fail(e);
        }
    }

    fn copy_dir_entries<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        src: &Path,
        dst: &Path,
    ) -> Result<()> {
        for entry in meta::read_dir(src)? {
            if self.failed() {
                return Ok(());
            }
            let s = src.join(&entry.name);
            let d = dst.join(&entry.name);
            let st = meta::lstat(&s)?;
            let kind = st.kind();
            if kind == Kind::Dir {
                mkdir(&d)?;
                Counters::add(&self.counters.dirs, 1);
                let descend =
                    !(self.opts.one_file_system && meta::is_other_mount(&st, self.root_dev));
                lock(&self.dirs).push((s.clone(), d.clone(), st));
                if descend {
                    scope.spawn(move |sc| self.dir_task(sc, s, d));
                } else {
                    tracing::debug!(path = %s.display(), "not descending into a mount");
                }
                continue;
            }
            if st.nlink > 1 {
                let mut links = lock(&self.links);
                if let Some(first) = links.get(&(st.dev, st.ino)) {
                    lock(&self.deferred_links).push((first.clone(), d));
                    Counters::add(&self.counters.hardlinks, 1);
                    Counters::add(&self.counters.files, 1);
                    continue;
                }
                links.insert((st.dev, st.ino), d.clone());
            }
            match kind {
                Kind::Regular if st.size >= SPAWN_FILE_SIZE => {
                    scope.spawn(move |_| {
                        if self.failed() {
                            return;
                        }
                        if let Err(e) = self.copy_file(&s, &d, &st) {
                            self.fail(e);
                        }
                    });
                }
                Kind::Regular => self.copy_file(&s, &d, &st)?,
                Kind::Symlink => self.copy_symlink(&s, &d, &st)?,
                Kind::Special => self.copy_special(&s, &d, &st)?,
                Kind::Dir => unreachable!("directories are handled above"),
            }
        }
        Ok(())
    }

    fn copy_file(&self, src: &Path, dst: &Path, st: &Stat) -> Result<()> {
        let s = open_source(src)?;
        let d = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dst)
            .map_err(|e| StorageError::io("create", dst, e))?;
        self.data.copy(&s, src, &d, dst, st.size, st.blocks)?;
        meta::apply(st, Target::Fd(s.as_fd()), src, Target::Fd(d.as_fd()), dst)?;
        Counters::add(&self.counters.files, 1);
        Counters::add(&self.counters.bytes, st.size);
        Ok(())
    }

    fn copy_symlink(&self, src: &Path, dst: &Path, st: &Stat) -> Result<()> {
        let target = std::fs::read_link(src).map_err(|e| StorageError::io("read link", src, e))?;
        std::os::unix::fs::symlink(&target, dst)
            .map_err(|e| StorageError::io("create symlink", dst, e))?;
        let (sc, dc) = (meta::cpath(src)?, meta::cpath(dst)?);
        meta::apply(st, Target::Path(&sc), src, Target::Path(&dc), dst)?;
        Counters::add(&self.counters.files, 1);
        Ok(())
    }

    fn copy_special(&self, src: &Path, dst: &Path, st: &Stat) -> Result<()> {
        let (sc, dc) = (meta::cpath(src)?, meta::cpath(dst)?);
        // SAFETY: `dc` is NUL-terminated; mknod creates a node of the source's type.
        let ret = unsafe { libc::mknod(dc.as_ptr(), (st.mode & libc::S_IFMT) | 0o600, st.rdev) };
        Errno::result(ret).map_err(|e| StorageError::sys("mknod", dst, e))?;
        meta::apply(st, Target::Path(&sc), src, Target::Path(&dc), dst)?;
        Counters::add(&self.counters.files, 1);
        Ok(())
    }
}

/// Opens a source file for reading, without following a symlink and, where allowed, without
/// updating its access time.
fn open_source(path: &Path) -> Result<File> {
    let open = |noatime: bool| {
        let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC | if noatime { libc::O_NOATIME } else { 0 };
        OpenOptions::new().read(true).custom_flags(flags).open(path)
    };
    match open(true) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(false),
        other => other,
    }
    .map_err(|e| StorageError::io("open", path, e))
}

/// Applies a directory's ownership, attributes, mode and times once its contents exist.
fn apply_dir_meta(src: &Path, dst: &Path, st: &Stat) -> Result<()> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dst)
        .map_err(|e| StorageError::io("open directory", dst, e))?;
    let sc = meta::cpath(src)?;
    meta::apply(st, Target::Path(&sc), src, Target::Fd(d.as_fd()), dst)
}
