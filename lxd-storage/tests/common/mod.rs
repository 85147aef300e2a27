//! Shared fixtures of the lxd-storage tests: unique scratch directories, loop-mounted xfs and
//! btrfs filesystems that are always unmounted and released, shell helpers, and a tree
//! comparison that relies only on external tools (find, stat, getfattr, getfacl, sha256sum).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Runs `bash -c script`, failing with its stderr when it fails; returns stdout.
pub fn sh(script: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .output()
        .with_context(|| format!("run bash for {script:?}"))?;
    if !out.status.success() {
        bail!(
            "{script:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails with a clear message when a tool the test needs is missing.
pub fn require_tools(tools: &[&str]) -> Result<()> {
    for t in tools {
        if sh(&format!("command -v {t}")).is_err() {
            bail!("the test needs `{t}` (Debian packages: acl attr xfsprogs btrfs-progs libcap2-bin util-linux; see scripts/setup)");
        }
    }
    Ok(())
}

/// Shell-quotes a path.
pub fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A scratch directory `/tmp/lxd-storage-test.PID.N.NAME` (or under `base`), removed with
/// everything in it (without crossing into mounts) when dropped.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> Result<Self> {
        Self::new_in(Path::new("/tmp"), name)
    }

    pub fn new_in(base: &Path, name: &str) -> Result<Self> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!(
            "lxd-storage-test.{}.{n}.{name}",
            std::process::id()
        ));
        std::fs::create_dir(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(TestDir { path })
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if self.path.exists() {
            if let Err(e) = sh(&format!("rm -rf --one-file-system {}", q(&self.path))) {
                eprintln!("cleanup of {}: {e}", self.path.display());
            }
        }
    }
}

/// Unmounts `dir` (retrying, then lazily) if something is mounted there.
pub fn unmount(dir: &Path) {
    for _ in 0..20 {
        if !is_mount_point(dir) {
            return;
        }
        if sh(&format!("umount {}", q(dir))).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sh(&format!("umount -l {}", q(dir)));
}

pub fn is_mount_point(dir: &Path) -> bool {
    sh(&format!("mountpoint -q {}", q(dir))).is_ok()
}

/// Detaches every loop device still backed by `file` (only ever ours: the file is unique).
pub fn detach_loops_of(file: &Path) {
    if let Ok(out) = sh(&format!("losetup -n -O NAME -j {}", q(file))) {
        for dev in out.split_whitespace() {
            let _ = sh(&format!("losetup -d {dev}"));
        }
    }
}

/// A filesystem in a loop file mounted at `mnt`, all under a scratch directory; unmounted,
/// released and removed when dropped.
pub struct LoopFs {
    pub mnt: PathBuf,
    pub img: PathBuf,
    dir: TestDir,
}

impl LoopFs {
    /// `fstype` is `xfs` (made with `-m reflink=1`), `btrfs` or `ext4`.
    pub fn new(name: &str, fstype: &str, size_mib: u64) -> Result<Self> {
        let dir = TestDir::new(name)?;
        let img = dir.join("disk.img");
        let mnt = dir.join("mnt");
        std::fs::create_dir(&mnt)?;
        let mkfs = match fstype {
            "xfs" => "mkfs.xfs -q -m reflink=1",
            "btrfs" => "mkfs.btrfs -q",
            "ext4" => "mkfs.ext4 -q -F",
            other => bail!("unknown fstype {other}"),
        };
        let fs = LoopFs { mnt, img, dir };
        sh(&format!(
            "truncate -s {size_mib}M {img} && {mkfs} {img} >/dev/null && mount -o loop {img} {mnt}",
            img = q(&fs.img),
            mnt = q(&fs.mnt)
        ))?;
        Ok(fs)
    }

    /// Free bytes as `df` reports them.
    pub fn avail(&self) -> Result<u64> {
        avail(&self.mnt)
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        unmount(&self.mnt);
        detach_loops_of(&self.img);
    }
}

/// Free bytes under `p` according to `df`.
pub fn avail(p: &Path) -> Result<u64> {
    let out = sh(&format!("df -B1 --output=avail {} | tail -1", q(p)))?;
    Ok(out.trim().parse()?)
}

/// A tmpfs mounted at `dir` (created) for the duration of the guard.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn new(dir: &Path, opts: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        sh(&format!("mount -t tmpfs -o {opts} tmpfs {}", q(dir)))?;
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        unmount(&self.dir);
    }
}

/// Everything an independent look at a tree sees, keyed by relative path.
#[derive(Debug, PartialEq, Eq)]
pub struct TreeView {
    /// `find -printf`: type, mode, owner, group, size and link count (not for directories,
    /// whose size and link count are filesystem-specific), mtime and atime with nanoseconds,
    /// symlink target.
    pub entries: BTreeMap<String, String>,
    /// Device numbers (`stat -c '%t:%T'`) of device nodes.
    pub rdevs: BTreeMap<String, String>,
    /// Groups of paths sharing an inode (hard links).
    pub link_groups: BTreeSet<Vec<String>>,
    /// Every extended attribute (`getfattr -d -m - -h -e hex`), sorted per file.
    pub xattrs: BTreeMap<String, Vec<String>>,
    /// POSIX ACLs and the flags line (`getfacl -R -P -p -n`).
    pub acls: BTreeMap<String, Vec<String>>,
    /// sha256 of every regular file.
    pub sums: BTreeMap<String, String>,
}

/// Looks at the tree `root` with external tools only. The metadata listing runs first so that
/// reading files and directories cannot change the times it reports.
pub fn view(root: &Path) -> Result<TreeView> {
    let r = q(root);
    let listing = sh(&format!(
        "cd {r} && find . -printf '%p\\t%y\\t%m\\t%U\\t%G\\t%s\\t%n\\t%T@\\t%A@\\t%l\\t%i\\n'"
    ))?;
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 11 {
            bail!("unexpected find line {line:?}");
        }
        let (path, kind) = (f[0].to_string(), f[1]);
        let (size, nlink) = if kind == "d" {
            ("-", "-")
        } else {
            (f[5], f[6])
        };
        entries.insert(
            path.clone(),
            format!(
                "{kind} mode={} uid={} gid={} size={size} nlink={nlink} mtime={} atime={} target={}",
                f[2], f[3], f[4], f[7], f[8], f[9]
            ),
        );
        if kind != "d" && f[6] != "1" {
            inodes.entry(f[10].to_string()).or_default().push(path);
        }
    }
    let link_groups = inodes
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();

    let mut rdevs = BTreeMap::new();
    let out = sh(&format!(
        "cd {r} && find . \\( -type c -o -type b \\) -exec stat -c '%n %t:%T' {{}} +"
    ))?;
    for line in out.lines() {
        let (p, d) = line.rsplit_once(' ').context("stat line")?;
        rdevs.insert(p.to_string(), d.to_string());
    }

    // XFS lists its on-disk copy of each POSIX ACL as trusted.SGI_ACL_* besides
    // system.posix_acl_*; the ACL itself is compared (both forms, via getfacl) below.
    let mut xattrs = parse_blocks(&sh(&format!(
        "cd {r} && getfattr -R -h -P -d -m - -e hex . 2>&1"
    ))?);
    for attrs in xattrs.values_mut() {
        attrs.retain(|a| !a.starts_with("trusted.SGI_ACL_"));
    }
    xattrs.retain(|_, attrs| !attrs.is_empty());
    let acls = parse_blocks(&sh(&format!("cd {r} && getfacl -R -P -p -n . 2>&1"))?);

    let mut sums = BTreeMap::new();
    let out = sh(&format!(
        "cd {r} && find . -type f -print0 | xargs -0 -r sha256sum"
    ))?;
    for line in out.lines() {
        let (sum, p) = line.split_once("  ").context("sha256sum line")?;
        sums.insert(p.to_string(), sum.to_string());
    }
    Ok(TreeView {
        entries,
        rdevs,
        link_groups,
        xattrs,
        acls,
        sums,
    })
}

/// Parses `# file: PATH` blocks (getfattr, getfacl) into sorted lines per path.
fn parse_blocks(out: &str) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    let mut cur: Option<(String, Vec<String>)> = None;
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            if let Some((k, mut v)) = cur.take() {
                v.sort();
                map.insert(k, v);
            }
            let p = p.strip_prefix("./").unwrap_or(p);
            cur = Some((p.to_string(), Vec::new()));
        } else if !line.is_empty() {
            match &mut cur {
                Some((_, v)) => v.push(line.to_string()),
                None => {
                    map.entry("<no file>".to_string())
                        .or_insert_with(Vec::new)
                        .push(line.to_string());
                }
            }
        }
    }
    if let Some((k, mut v)) = cur.take() {
        v.sort();
        map.insert(k, v);
    }
    map
}

/// Asserts that two views are equal, reporting the first differing entry of each part.
pub fn assert_same(src: &TreeView, dst: &TreeView) {
    fn cmp<V: std::fmt::Debug + PartialEq>(
        what: &str,
        a: &BTreeMap<String, V>,
        b: &BTreeMap<String, V>,
    ) {
        for (k, v) in a {
            match b.get(k) {
                Some(w) => assert_eq!(v, w, "{what} of {k} differ"),
                None => panic!("{what}: {k} missing in the copy"),
            }
        }
        for k in b.keys() {
            assert!(a.contains_key(k), "{what}: {k} only in the copy");
        }
    }
    cmp("metadata", &src.entries, &dst.entries);
    cmp("device numbers", &src.rdevs, &dst.rdevs);
    assert_eq!(src.link_groups, dst.link_groups, "hard link groups differ");
    cmp("extended attributes", &src.xattrs, &dst.xattrs);
    cmp("ACLs", &src.acls, &dst.acls);
    cmp("content", &src.sums, &dst.sums);
}

/// Allocated and apparent size of one file (`du`).
pub fn du(p: &Path) -> Result<(u64, u64)> {
    let alloc = sh(&format!("du -B1 {} | cut -f1", q(p)))?.trim().parse()?;
    let apparent = sh(&format!("du -B1 --apparent-size {} | cut -f1", q(p)))?
        .trim()
        .parse()?;
    Ok((alloc, apparent))
}

/// Builds a tree with every kind of entry under `root` (created): regular, empty and sparse
/// files, setuid/setgid/sticky modes, foreign owners, `user.*`, `trusted.*` and
/// `security.capability` attributes, access and default ACLs, hard links (also to a
/// symlink), dangling/absolute/relative symlinks, a fifo, device nodes, a socket, read-only
/// and unreadable directories, names with spaces and non-ASCII, and `small_files` small
/// files. Finally every entry gets its own mtime (nanoseconds) and an atime in the future
/// (so that reading it later cannot move it under relatime).
pub fn make_fixture(root: &Path, small_files: usize) -> Result<()> {
    require_tools(&[
        "setfacl", "getfacl", "setfattr", "getfattr", "mknod", "mkfifo",
    ])?;
    std::fs::create_dir(root)?;
    let r = q(root);
    sh(&format!(
        r#"cd {r}
printf 'hello world\n' > hello
: > empty
truncate -s 64M sparse
head -c 1M /dev/urandom | dd of=sparse conv=notrunc status=none
head -c 1M /dev/urandom | dd of=sparse bs=1M seek=40 conv=notrunc status=none
printf 'setuid\n' > setuid && chown 1000:1000 setuid && chmod 4755 setuid
mkdir setgid-dir && printf x > setgid-dir/f && chown 0:1000 setgid-dir && chmod 2775 setgid-dir
mkdir sticky && chmod 1777 sticky
printf caps > caps && setfattr -n user.x -v hello caps && setfattr -n trusted.t -v 1 caps
printf acl > acl-file && setfacl -m u:1234:rwx,g:4321:r acl-file
mkdir acl-dir && setfacl -m u:1234:rx acl-dir && setfacl -d -m g:4321:rx acl-dir
printf inherited > acl-dir/inherited
mkdir sub
printf pair > link-a && ln link-a sub/link-b
printf triple > t1 && ln t1 t2 && ln t1 sub/t3
ln -s nowhere/at/all sym-dangling
ln -s /etc/passwd sym-abs
ln -s hello sym-rel && chown -h 1000:1000 sym-rel
ln -P sym-rel sub/sym-hard
mkfifo -m 0620 fifo
mknod -m 0666 null c 1 3
mknod -m 0640 blk b 7 250
mkdir 'with space' && printf s > 'with space/ünïcode file'
mkdir -p ro/inner && printf r > ro/file && printf i > ro/inner/f && chmod 500 ro/inner && chmod 555 ro
mkdir noperm && printf n > noperm/f && chmod 000 noperm
chown 1234:4321 hello
"#
    ))?;
    // File capabilities: setcap when present, else the raw v2 attribute (cap_net_raw+ep).
    if sh("command -v setcap").is_ok() {
        sh(&format!("setcap cap_net_raw+ep {}", q(&root.join("caps"))))?;
    } else {
        let v: [u8; 20] = [
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sh(&format!(
            "setfattr -n security.capability -v 0x{} {}",
            v.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            q(&root.join("caps"))
        ))?;
    }
    // A socket: binding makes the inode, dropping the listener leaves it.
    drop(std::os::unix::net::UnixListener::bind(root.join("sock"))?);
    let many = root.join("many");
    std::fs::create_dir(&many)?;
    for i in 0..small_files {
        let d = many.join(format!("d{:02}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir(&d)?;
        }
        std::fs::write(
            d.join(format!("f{i:04}")),
            format!("small file {i}\n").repeat(1 + i % 7),
        )?;
    }
    set_times(root)
}

/// Gives every entry under `root` (root included) a distinct mtime with nanoseconds and a
/// future atime, without following symlinks. Paths are listed first, times set after.
pub fn set_times(root: &Path) -> Result<()> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        out.push(p.to_path_buf());
        if std::fs::symlink_metadata(p)?.is_dir() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path(), out)?;
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(root, &mut paths)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    for (i, p) in paths.iter().enumerate() {
        let i = i as i64;
        let atime = nix::sys::time::TimeSpec::new(now + 86_400 + i, (i * 7_919) % 1_000_000_000);
        let mtime = nix::sys::time::TimeSpec::new(
            1_609_459_200 + i * 61,
            (i * 104_729 + 1) % 1_000_000_000,
        );
        nix::sys::stat::utimensat(
            None,
            p.as_path(),
            &atime,
            &mtime,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .with_context(|| format!("set times of {}", p.display()))?;
    }
    Ok(())
}

/// Sum of the sizes of distinct regular-file inodes under `root`, and the counts of
/// non-directories and directories (`find`).
pub fn expected_counts(root: &Path) -> Result<(u64, u64, u64)> {
    let r = q(root);
    let bytes = sh(&format!(
        "find {r} -type f -printf '%i %s\\n' | sort -u | awk '{{s+=$2}} END {{print s+0}}'"
    ))?
    .trim()
    .parse()?;
    let files = sh(&format!("find {r} ! -type d | wc -l"))?.trim().parse()?;
    let dirs = sh(&format!("find {r} -type d | wc -l"))?.trim().parse()?;
    Ok((bytes, files, dirs))
}
