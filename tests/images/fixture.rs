//! Test fixture: private directories under /tmp removed even when a test fails, shell
//! helpers, a source tree with every kind of entry, and a snapshot of a tree (types, modes,
//! owners, times, contents, link targets, device numbers, hard-link groups, xattrs) taken
//! without lxd-core's code, to compare an unpacked image with its source.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A directory `/tmp/lxd-img-PID-N-TAG`, removed on drop.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let path = PathBuf::from(format!("/tmp/lxd-img-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    /// A new empty directory inside.
    pub fn mkdir(&self, p: &str) -> PathBuf {
        let d = self.join(p);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs a bash script (`set -euo pipefail`) and returns its standard output.
pub fn sh(script: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .output()
        .context("run bash")?;
    if !out.status.success() {
        bail!(
            "script failed ({}): {script}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Quotes a path for the shell.
pub fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// The SHA-256 of the concatenated files, from the `sha256sum` command.
pub fn sha256sum(files: &[&Path]) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| q(f)).collect();
    let out = sh(&format!("cat {} | sha256sum", list.join(" ")))?;
    Ok(out
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

pub const METADATA_YAML: &str = "architecture: x86_64
creation_date: 1700000000
properties:
  os: testos
  release: \"1.0\"
  description: test image
templates:
  /etc/hostname:
    when:
      - create
      - copy
    template: hostname.tpl
";

/// Fills `root` (created) with a root file system holding every kind of entry: modes with
/// setuid/setgid/sticky, numeric owners (some beyond 65535), absolute and relative symlinks,
/// hard links, `user.test` and `security.capability` xattrs, character and block devices, a
/// fifo, a sparse file, long and non-UTF-8 names, and fixed times with nanoseconds.
pub fn make_tree(root: &Path) -> Result<()> {
    let r = q(root);
    sh(&format!(
        r#"
R={r}
mkdir -p "$R"/bin "$R"/etc "$R"/tmp "$R"/home/user "$R"/dev "$R"/secret "$R"/var/empty
chmod 1777 "$R"/tmp; chmod 0700 "$R"/secret
echo hello > "$R"/etc/hostname
head -c 70000 /dev/zero | tr '\0' 'x' > "$R"/bin/big
head -c 300000 /dev/urandom > "$R"/bin/random
chown 1000:1000 "$R"/home/user
echo x > "$R"/home/user/file; chown 1000:1001 "$R"/home/user/file; chmod 0640 "$R"/home/user/file
chown 1000123:1000456 "$R"/etc/hostname
chmod 4755 "$R"/bin/random
chmod 2711 "$R"/bin/big
setcap cap_net_raw+ep "$R"/bin/random
setfattr -n user.test -v hello "$R"/etc/hostname
setfattr -n user.dir -v d "$R"/home
ln -s /bin/busybox "$R"/bin/sh
ln -s ../etc/hostname "$R"/bin/rel
ln "$R"/bin/big "$R"/bin/big-link
ln "$R"/bin/big "$R"/home/user/big-link
mknod "$R"/dev/null c 1 3; chmod 0666 "$R"/dev/null
mknod "$R"/dev/loop-test b 7 200; chmod 0660 "$R"/dev/loop-test; chown 0:6 "$R"/dev/loop-test
mkfifo "$R"/dev/fifo; chmod 0600 "$R"/dev/fifo
truncate -s 5M "$R"/var/sparse; echo end >> "$R"/var/sparse
D="$R"/deep/$(printf 'd%.0s' $(seq 1 60))/$(printf 'e%.0s' $(seq 1 60))
mkdir -p "$D"; echo deep > "$D"/$(printf 'f%.0s' $(seq 1 120))
touch "$R"/etc/$'caf\xe9'
touch -h -d '2020-01-02 03:04:05.123456789' "$R"/bin/sh
touch -d '2019-05-06 07:08:09.5' "$R"/etc/hostname "$R"/bin/random
chmod 0555 "$R"/var/empty
for d in "$R"/bin "$R"/etc "$R"/var/empty "$R"/home/user "$R"/dev "$R"; do touch -h -d '2021-03-04 05:06:07.25' "$d"; done
"#
    ))?;
    Ok(())
}

/// Lays out a unified image tree in `base` (created): `metadata.yaml`, `templates/`, and the
/// full test tree as `rootfs/`.
pub fn make_image_tree(base: &Path) -> Result<()> {
    std::fs::create_dir_all(base.join("templates"))?;
    std::fs::write(base.join("metadata.yaml"), METADATA_YAML)?;
    std::fs::write(
        base.join("templates/hostname.tpl"),
        "{{ container.name }}\n",
    )?;
    make_tree(&base.join("rootfs"))?;
    sh(&format!(
        "touch -d '2022-01-01 00:00:00' {b}/metadata.yaml {b}/templates/hostname.tpl {b}/templates",
        b = q(base)
    ))?;
    Ok(())
}

fn xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let p = CString::new(path.as_os_str().as_bytes())?;
    let mut names = vec![0u8; 4096];
    // SAFETY: `p` is a valid C string and `names` is writable for its length.
    let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        bail!(
            "llistxattr {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    let mut out = Vec::new();
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let c = CString::new(name)?;
        let mut v = vec![0u8; 4096];
        // SAFETY: valid C strings and `v` is writable for its length.
        let m = unsafe { libc::lgetxattr(p.as_ptr(), c.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        if m < 0 {
            bail!(
                "lgetxattr {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        v.truncate(m as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), v));
    }
    out.sort();
    Ok(out)
}

/// Whether times are compared to the nanosecond (squashfs keeps seconds only).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Times {
    Nanos,
    Seconds,
}

/// Describes every entry under `root` (not `root` itself), keyed by relative path.
pub fn snapshot(root: &Path, times: Times) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut links: HashMap<u64, String> = HashMap::new();
    walk(root, root, times, &mut out, &mut links)?;
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    times: Times,
    out: &mut BTreeMap<String, String>,
    links: &mut HashMap<u64, String>,
) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
        let md = std::fs::symlink_metadata(&path)?;
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        let mtime = match times {
            Times::Nanos => format!("{}.{:09}", md.mtime(), md.mtime_nsec()),
            Times::Seconds => md.mtime().to_string(),
        };
        let mut d = format!(
            "{kind} mode={:o} owner={}:{} mtime={mtime}",
            md.mode() & 0o7777,
            md.uid(),
            md.gid()
        );
        if ft.is_file() {
            let data = std::fs::read(&path)?;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            data.hash(&mut h);
            d += &format!(" size={} content={:x}", md.len(), h.finish());
            if md.nlink() > 1 {
                let first = links.entry(md.ino()).or_insert_with(|| rel.clone());
                d += &format!(" hardlink-group={first} nlink={}", md.nlink());
            }
        }
        if ft.is_symlink() {
            d += &format!(" target={}", std::fs::read_link(&path)?.display());
        }
        if ft.is_char_device() || ft.is_block_device() {
            d += &format!(
                " rdev={}:{}",
                libc::major(md.rdev()),
                libc::minor(md.rdev())
            );
        }
        if !ft.is_symlink() {
            for (k, v) in xattrs(&path)? {
                d += &format!(
                    " xattr[{k}]={}",
                    v.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
            }
        }
        out.insert(rel, d);
        if ft.is_dir() {
            walk(root, &path, times, out, links)?;
        }
    }
    Ok(())
}

/// Fails with the differing entries when two snapshots differ.
pub fn assert_same(
    what: &str,
    expected: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
) -> Result<()> {
    if expected == got {
        return Ok(());
    }
    let mut diff = Vec::new();
    for (k, v) in expected {
        match got.get(k) {
            None => diff.push(format!("missing {k}: {v}")),
            Some(g) if g != v => diff.push(format!("differs {k}:\n  expected {v}\n  got      {g}")),
            _ => {}
        }
    }
    for k in got.keys().filter(|k| !expected.contains_key(*k)) {
        diff.push(format!("extra {k}: {}", got[k]));
    }
    bail!("{what}: trees differ:\n{}", diff.join("\n"))
}

/// The names and contents of the files directly in `dir`, to show nothing was added there.
pub fn listing(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let content = if e.file_type()?.is_file() {
            std::fs::read(&p)?
        } else {
            Vec::new()
        };
        out.insert(e.file_name().to_string_lossy().into_owned(), content);
    }
    Ok(out)
}

/// Whether `dir` is empty.
pub fn is_empty(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)?.next().is_none())
}
