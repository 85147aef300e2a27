//! The btrfs ioctl wrappers on a real btrfs filesystem in a loop file, checked with the
//! `btrfs` command (btrfs-progs), `df` and plain writes. Run as root.
//!
//! `nested_subvolumes` answers from the root tree (`BTRFS_IOC_TREE_SEARCH`), which needs
//! `CAP_SYS_ADMIN`; on a thread whose effective set lacks it the kernel refuses the search
//! and the function walks the directories instead. Every nesting test compares both answers.

mod common;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{q, require_tools, sh, LoopFs, TestDir};
use lxd_storage::btrfs::ioctl as btrfs;
use lxd_storage::{copy_tree, remove_tree, CopyOptions, StorageError};
use nix::errno::Errno;

const MIB: u64 = 1024 * 1024;

fn btrfs_fs(name: &str, size_mib: u64) -> Result<LoopFs> {
    require_tools(&["mkfs.btrfs", "btrfs"])?;
    LoopFs::new(name, "btrfs", size_mib)
}

/// Writes `len` bytes of random data to `path` and fsyncs it.
fn write_file(path: &Path, len: usize) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let chunk: Vec<u8> = (0..MIB as usize)
        .map(|i| (i * 7 + 13) as u8 ^ (len as u8))
        .collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n])?;
        left -= n;
    }
    f.sync_all()
}

/// The subvolume paths `btrfs subvolume list` reports, relative to the filesystem top.
fn listed_subvolumes(mnt: &Path) -> Result<Vec<String>> {
    let out = sh(&format!("btrfs subvolume list {}", q(mnt)))?;
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| l.split(" path ").nth(1).map(str::to_string))
        .collect();
    v.sort();
    Ok(v)
}

/// `Subvolume ID` from `btrfs subvolume show`.
fn shown_id(path: &Path) -> Result<u64> {
    let out = sh(&format!("btrfs subvolume show {}", q(path)))?;
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("Subvolume ID:"))
        .context("no Subvolume ID line")?;
    Ok(line.split(':').nth(1).context("id")?.trim().parse()?)
}

#[test]
fn subvolumes_snapshots_and_readonly_flag() -> Result<()> {
    let fs = btrfs_fs("btrfs-subvol", 512)?;
    let m = &fs.mnt;
    let vol = btrfs::create_subvolume(m, "vol")?;
    assert_eq!(vol, m.join("vol"));
    assert!(btrfs::is_subvolume(&vol)?);
    assert!(btrfs::is_subvolume(m)?, "the top level is a subvolume too");
    std::fs::create_dir(vol.join("plain"))?;
    assert!(!btrfs::is_subvolume(&vol.join("plain"))?);
    assert_eq!(listed_subvolumes(m)?, vec!["vol"]);

    // Ids agree with btrfs-progs, for the subvolume and for any file inside it.
    let id = btrfs::subvolume_id(&vol)?;
    assert_eq!(id, shown_id(&vol)?);
    std::fs::write(vol.join("plain/data"), "original")?;
    assert_eq!(btrfs::subvolume_id(&vol.join("plain/data"))?, id);
    assert_eq!(btrfs::subvolume_id(m)?, btrfs::FS_TREE_OBJECTID);

    let rw = btrfs::snapshot(&vol, m, "snap-rw", false)?;
    let ro = btrfs::snapshot(&vol, m, "snap-ro", true)?;
    assert_eq!(listed_subvolumes(m)?, vec!["snap-ro", "snap-rw", "vol"]);
    assert_ne!(btrfs::subvolume_id(&rw)?, id);
    for snap in [&rw, &ro] {
        assert_eq!(
            std::fs::read_to_string(snap.join("plain/data"))?,
            "original"
        );
    }
    assert!(!btrfs::is_readonly(&rw)?);
    assert!(btrfs::is_readonly(&ro)?);
    assert!(sh(&format!("btrfs property get {} ro", q(&ro)))?.contains("ro=true"));

    // A write to the read-only snapshot fails; the writable one is independent of `vol`.
    let e = std::fs::write(ro.join("plain/data"), "changed").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    std::fs::write(rw.join("plain/data"), "changed")?;
    assert_eq!(std::fs::read_to_string(vol.join("plain/data"))?, "original");

    // Toggling the flag.
    btrfs::set_readonly(&rw, true)?;
    assert!(sh(&format!("btrfs property get {} ro", q(&rw)))?.contains("ro=true"));
    let e = std::fs::write(rw.join("new"), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    btrfs::set_readonly(&rw, false)?;
    assert!(!btrfs::is_readonly(&rw)?);
    std::fs::write(rw.join("new"), "x")?;

    // Deleting (the read-only snapshot too).
    btrfs::delete_subvolume(&ro)?;
    btrfs::delete_subvolume(&rw)?;
    assert!(!ro.exists() && !rw.exists());
    assert_eq!(listed_subvolumes(m)?, vec!["vol"]);
    Ok(())
}

#[test]
fn nested_subvolumes_are_listed_parent_first_and_deleted_children_first() -> Result<()> {
    let fs = btrfs_fs("btrfs-nested", 512)?;
    let m = &fs.mnt;
    let vol = btrfs::create_subvolume(m, "vol")?;
    std::fs::create_dir_all(vol.join("dir/deeper"))?;
    let a = btrfs::create_subvolume(&vol, "a")?;
    let ab = btrfs::create_subvolume(&a, "b")?;
    let c = btrfs::create_subvolume(&vol.join("dir/deeper"), "c")?;
    std::fs::write(ab.join("f"), "in a/b")?;
    std::fs::write(c.join("f"), "in c")?;
    // A mount below the volume is not walked into.
    let other = common::Tmpfs::new(&vol.join("dir/mnt"), "size=1m")?;
    std::fs::create_dir(other.dir.join("x"))?;

    let nested = btrfs::nested_subvolumes(&vol)?;
    let mut sorted = nested.clone();
    sorted.sort();
    assert_eq!(sorted, vec![a.clone(), ab.clone(), c.clone()]);
    let pos = |p: &PathBuf| nested.iter().position(|x| x == p).unwrap();
    assert!(pos(&a) < pos(&ab), "parent before child: {nested:?}");
    // btrfs-progs agrees on what is below `vol`.
    let mut listed = listed_subvolumes(m)?;
    listed.retain(|p| p != "vol");
    assert_eq!(listed, vec!["vol/a", "vol/a/b", "vol/dir/deeper/c"]);
    drop(other);

    // The parent cannot go while children exist; the error names it.
    let e = btrfs::delete_subvolume(&vol).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOTEMPTY), "{e}");
    assert!(e.to_string().contains("/vol"), "{e}");

    // Snapshot the parent, then the children in order into the empty placeholders.
    let snap = btrfs::snapshot(&vol, m, "snap", false)?;
    for child in &nested {
        let rel = child.strip_prefix(&vol)?;
        let target = snap.join(rel);
        std::fs::remove_dir(&target)
            .with_context(|| format!("placeholder {}", target.display()))?;
        let name = target.file_name().unwrap().to_str().unwrap();
        btrfs::snapshot(child, target.parent().unwrap(), name, false)?;
    }
    assert_eq!(std::fs::read_to_string(snap.join("a/b/f"))?, "in a/b");
    assert_eq!(
        std::fs::read_to_string(snap.join("dir/deeper/c/f"))?,
        "in c"
    );
    assert!(btrfs::is_subvolume(&snap.join("a/b"))?);

    // copy_tree walks into nested subvolumes (they are not mounts) and reflinks their files.
    let copy = m.join("copy");
    let stats = copy_tree(&vol, &copy, &CopyOptions::default())?;
    assert!(stats.reflinked, "{stats:?}");
    assert_eq!(std::fs::read_to_string(copy.join("a/b/f"))?, "in a/b");
    assert!(!btrfs::is_subvolume(&copy.join("a"))?);
    remove_tree(&copy)?;

    // Delete children first (reverse pre-order), then the parent.
    for child in btrfs::nested_subvolumes(&vol)?.iter().rev() {
        btrfs::delete_subvolume(child)?;
    }
    btrfs::delete_subvolume(&vol)?;
    assert_eq!(
        listed_subvolumes(m)?,
        vec!["snap", "snap/a", "snap/a/b", "snap/dir/deeper/c"]
    );
    // remove_tree removes a tree of subvolumes too (rmdir deletes an empty subvolume).
    remove_tree(&snap)?;
    assert!(!snap.exists());
    assert_eq!(listed_subvolumes(m)?, Vec::<String>::new());
    Ok(())
}

#[test]
fn qgroup_limit_is_enforced_usage_reported_and_delete_frees_space() -> Result<()> {
    let fs = btrfs_fs("btrfs-quota", 1024)?;
    let m = &fs.mnt;
    let vol = btrfs::create_subvolume(m, "vol")?;
    // Before quotas are on, usage and limits say so.
    let e = btrfs::qgroup_usage(&vol).unwrap_err();
    assert!(matches!(e, StorageError::Unsupported { .. }), "{e}");

    btrfs::quota_enable(m)?;
    btrfs::quota_rescan_wait(m)?;
    btrfs::quota_enable(m)?; // idempotent
    let id = btrfs::subvolume_id(&vol)?;

    btrfs::qgroup_limit(&vol, Some(20 * MIB))?;
    let u = btrfs::qgroup_usage(&vol)?;
    assert_eq!(u.subvolume_id, id);
    assert_eq!(u.max_referenced, Some(20 * MIB));
    assert_eq!(u.max_exclusive, None);
    let shown = sh(&format!("btrfs qgroup show -r --raw {}", q(m)))?;
    let line = shown
        .lines()
        .find(|l| l.starts_with(&format!("0/{id} ")))
        .with_context(|| format!("no 0/{id} in {shown}"))?;
    assert!(
        line.split_whitespace().any(|w| w == (20 * MIB).to_string()),
        "{line}"
    );

    // 10 MiB fit; 30 more do not.
    write_file(&vol.join("ten"), 10 * MIB as usize)?;
    let e = write_file(&vol.join("thirty"), 30 * MIB as usize).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EDQUOT), "{e}");
    std::fs::remove_file(vol.join("thirty"))?;

    btrfs::sync(m)?;
    let u = btrfs::qgroup_usage(&vol)?;
    assert!(u.referenced >= 10 * MIB && u.referenced < 12 * MIB, "{u:?}");
    assert!(u.exclusive >= 10 * MIB, "{u:?}");
    // Same numbers as btrfs-progs and sysfs.
    let shown = sh(&format!("btrfs qgroup show --raw {}", q(m)))?;
    let line = shown
        .lines()
        .find(|l| l.starts_with(&format!("0/{id} ")))
        .context("qgroup line")?;
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1], u.referenced.to_string(), "{line}");
    assert_eq!(cols[2], u.exclusive.to_string(), "{line}");
    let uuid: String = btrfs::fs_uuid(m)?
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let sep = if matches!(i, 4 | 6 | 8 | 10) { "-" } else { "" };
            format!("{sep}{b:02x}")
        })
        .collect();
    let sysfs = format!("/sys/fs/btrfs/{uuid}/qgroups/0_{id}/referenced");
    assert_eq!(
        std::fs::read_to_string(&sysfs)?.trim(),
        u.referenced.to_string()
    );

    // Lifting the limit lets the write through.
    btrfs::qgroup_limit(&vol, None)?;
    assert_eq!(btrfs::qgroup_usage(&vol)?.max_referenced, None);
    write_file(&vol.join("thirty"), 30 * MIB as usize)?;

    // Deleting the subvolume gives the space back.
    btrfs::sync(m)?;
    let before = fs.avail()?;
    btrfs::delete_subvolume(&vol)?;
    btrfs::wait_subvolume_cleaned(m, id, Duration::from_secs(30))?;
    let after = fs.avail()?;
    assert!(
        after >= before + 35 * MIB,
        "free before {before}, after {after}"
    );
    btrfs::quota_disable(m)?;
    Ok(())
}

#[test]
fn bad_arguments_are_refused_with_the_path() -> Result<()> {
    let fs = btrfs_fs("btrfs-bad", 256)?;
    let m = &fs.mnt;
    for bad in ["", ".", "..", "a/b"] {
        let e = btrfs::create_subvolume(m, bad).unwrap_err();
        assert!(matches!(e, StorageError::Invalid { .. }), "{bad:?}: {e}");
    }
    let long = "x".repeat(256);
    assert!(btrfs::create_subvolume(m, &long).is_err());

    std::fs::create_dir(m.join("plain"))?;
    let e = btrfs::snapshot(&m.join("plain"), m, "s", false).unwrap_err();
    assert!(matches!(e, StorageError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("plain"), "{e}");
    let e = btrfs::delete_subvolume(&m.join("plain")).unwrap_err();
    assert!(matches!(e, StorageError::Invalid { .. }), "{e}");
    assert!(m.join("plain").exists());

    btrfs::create_subvolume(m, "dup")?;
    let e = btrfs::create_subvolume(m, "dup").unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
    assert!(e.to_string().contains("dup"), "{e}");

    // Not btrfs at all.
    let t = TestDir::new("not-btrfs")?;
    assert!(!btrfs::is_btrfs(&t.path)?);
    assert!(!btrfs::is_subvolume(&t.path)?);
    let e = btrfs::subvolume_id(&t.path).unwrap_err();
    assert!(e.to_string().contains(&t.path.display().to_string()), "{e}");
    assert!(btrfs::nested_subvolumes(&t.path).is_err());
    let e = btrfs::create_subvolume(&t.path, "x").unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOTTY), "{e}");
    Ok(())
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;
const CAP_SYS_ADMIN: u32 = 21;

/// Runs `f` on a new thread whose effective capability set lacks `CAP_SYS_ADMIN`
/// (capabilities are per thread, so the test's other threads keep theirs).
fn without_sys_admin<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut hdr = CapHeader {
                version: CAP_VERSION_3,
                pid: 0,
            };
            let mut data = [CapData::default(); 2];
            // SAFETY: `hdr` and `data` are the header and two-element data array capget
            // expects for version 3; pid 0 is the calling thread.
            let ret = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
            ensure!(ret == 0, "capget: {}", std::io::Error::last_os_error());
            data[0].effective &= !(1 << CAP_SYS_ADMIN);
            // SAFETY: as above; capset only changes the calling thread's credentials.
            let ret = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
            ensure!(ret == 0, "capset: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread without CAP_SYS_ADMIN panicked"))?
    })
}

/// Checks, on the calling thread, that the kernel refuses the tree search on the filesystem
/// of `path` (probed with `qgroup_usage`, which searches the quota tree; a snapshot's
/// placeholder directory takes no btrfs ioctl, so the probe goes up to a directory that
/// does).
fn ensure_tree_search_refused(path: &Path) -> Result<()> {
    for p in path.ancestors() {
        let e = btrfs::qgroup_usage(p).expect_err("tree search without CAP_SYS_ADMIN");
        if e.errno() == Some(Errno::ENOTTY) {
            continue;
        }
        ensure!(
            e.errno() == Some(Errno::EPERM),
            "the tree search was not refused: {e}"
        );
        return Ok(());
    }
    anyhow::bail!("no directory above {} takes btrfs ioctls", path.display())
}

/// `nested_subvolumes(path)` as the directory walk answers it: called where the kernel
/// refuses the tree search, which is checked first.
fn walked(path: &Path) -> Result<Vec<PathBuf>> {
    without_sys_admin(|| {
        ensure_tree_search_refused(path)?;
        Ok(btrfs::nested_subvolumes(path)?)
    })
}

/// `nested_subvolumes(path)` from the tree search, checked against the walk and for
/// pre-order (a listed subvolume comes after every listed subvolume it is nested in).
fn nested(path: &Path) -> Result<Vec<PathBuf>> {
    let fast = btrfs::nested_subvolumes(path)?;
    let walk = walked(path)?;
    ensure!(
        fast == walk,
        "{}: tree search {fast:#?} != walk {walk:#?}",
        path.display()
    );
    for (i, p) in fast.iter().enumerate() {
        ensure!(p.starts_with(path) && p != path, "{p:?} not below {path:?}");
        for later in &fast[i + 1..] {
            ensure!(
                !p.starts_with(later),
                "{later:?} listed after its child {p:?}"
            );
        }
    }
    Ok(fast)
}

/// Paths of `rels` below `base`.
fn below(base: &Path, rels: &[&str]) -> Vec<PathBuf> {
    rels.iter().map(|r| base.join(r)).collect()
}

/// Sorted copy.
fn sorted(mut v: Vec<PathBuf>) -> Vec<PathBuf> {
    v.sort();
    v
}

/// A volume with subvolumes at depth 1, 2 and 3 in different directories, one of them with a
/// name that is not UTF-8 and one moved to another directory after its creation:
///
/// ```text
/// vol/a                    depth 1
/// vol/a/x/b                depth 2
/// vol/a/x/b/y/z/c          depth 3
/// vol/dir/deeper/d         depth 1 (created in vol/, then moved)
/// vol/dir/e                depth 1
/// vol/dir/e/f\xff g        depth 2
/// vol/dir/empty/           plain directories only
/// ```
fn nesting_fixture(m: &Path) -> Result<PathBuf> {
    let vol = btrfs::create_subvolume(m, "vol")?;
    for d in ["dir/deeper", "dir/empty/sub"] {
        std::fs::create_dir_all(vol.join(d))?;
    }
    let a = btrfs::create_subvolume(&vol, "a")?;
    std::fs::create_dir_all(a.join("x"))?;
    let b = btrfs::create_subvolume(&a.join("x"), "b")?;
    std::fs::create_dir_all(b.join("y/z"))?;
    let c = btrfs::create_subvolume(&b.join("y/z"), "c")?;
    let d = btrfs::create_subvolume(&vol, "d")?;
    std::fs::rename(&d, vol.join("dir/deeper/d"))?;
    let e = btrfs::create_subvolume(&vol.join("dir"), "e")?;
    btrfs::create_subvolume(&e, "tmp")?;
    let odd = std::ffi::OsStr::from_bytes(b"f\xff g");
    std::fs::rename(e.join("tmp"), e.join(odd))?;
    for (dir, n) in [(&vol, 5), (&a, 3), (&b, 2), (&c, 2), (&e, 1)] {
        for i in 0..n {
            std::fs::write(dir.join(format!("file{i}")), "x")?;
        }
    }
    Ok(vol)
}

/// The fixture's nested subvolumes below `vol`, sorted (so in pre-order).
fn nesting_paths(vol: &Path) -> Vec<PathBuf> {
    let rels: [&[u8]; 6] = [
        b"a",
        b"a/x/b",
        b"a/x/b/y/z/c",
        b"dir/deeper/d",
        b"dir/e",
        b"dir/e/f\xff g",
    ];
    rels.iter()
        .map(|r| vol.join(std::ffi::OsStr::from_bytes(r)))
        .collect()
}

#[test]
fn nested_subvolumes_at_depth_1_2_and_3_in_different_directories() -> Result<()> {
    let fs = btrfs_fs("btrfs-depths", 512)?;
    let m = &fs.mnt;
    let vol = nesting_fixture(m)?;
    let all = nesting_paths(&vol);
    assert_eq!(nested(&vol)?, all);
    // btrfs-progs sees the same subvolumes.
    let mut listed = listed_subvolumes(m)?;
    listed.retain(|p| p != "vol");
    let ours: Vec<String> = all
        .iter()
        .map(|p| p.strip_prefix(m).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sorted_strings(listed), sorted_strings(ours));

    // From each nested subvolume, only what is nested in it.
    assert_eq!(
        nested(&vol.join("a"))?,
        below(&vol, &["a/x/b", "a/x/b/y/z/c"])
    );
    assert_eq!(nested(&vol.join("a/x/b"))?, below(&vol, &["a/x/b/y/z/c"]));
    assert_eq!(nested(&vol.join("a/x/b/y/z/c"))?, Vec::<PathBuf>::new());
    assert_eq!(nested(&vol.join("dir/e"))?, all[5..].to_vec());
    // The top level holds `vol` and everything in it.
    let mut top = vec![vol.clone()];
    top.extend(all.iter().cloned());
    assert_eq!(nested(m)?, top);

    // Children deleted in reverse order, the list shrinks accordingly.
    for p in nested(&vol)?.iter().rev() {
        btrfs::delete_subvolume(p)?;
    }
    assert_eq!(nested(&vol)?, Vec::<PathBuf>::new());
    Ok(())
}

fn sorted_strings(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn nested_subvolumes_of_a_plain_directory_are_only_those_below_it() -> Result<()> {
    let fs = btrfs_fs("btrfs-subdir", 512)?;
    let vol = nesting_fixture(&fs.mnt)?;
    assert_eq!(nested(&vol.join("dir"))?, nesting_paths(&vol)[3..].to_vec());
    assert_eq!(
        nested(&vol.join("dir/deeper"))?,
        below(&vol, &["dir/deeper/d"])
    );
    assert_eq!(nested(&vol.join("dir/empty"))?, Vec::<PathBuf>::new());
    assert_eq!(nested(&vol.join("dir/empty/sub"))?, Vec::<PathBuf>::new());
    // A plain directory inside a nested subvolume.
    assert_eq!(
        nested(&vol.join("a/x"))?,
        below(&vol, &["a/x/b", "a/x/b/y/z/c"])
    );
    assert_eq!(nested(&vol.join("a/x/b/y"))?, below(&vol, &["a/x/b/y/z/c"]));
    // A path spelled with `..` and `.` keeps its spelling in the answer.
    let odd = vol.join("dir/empty/../deeper/.");
    assert_eq!(nested(&odd)?, vec![odd.join("d")]);

    // Not a directory, missing, or a symlink to a directory: an error naming the path.
    for (p, what) in [
        (vol.join("file0"), "file"),
        (vol.join("missing"), "missing path"),
    ] {
        let e = btrfs::nested_subvolumes(&p).expect_err(what);
        assert!(
            e.to_string().contains(&p.display().to_string()),
            "{what}: {e}"
        );
    }
    std::os::unix::fs::symlink(vol.join("a"), vol.join("link"))?;
    let e = btrfs::nested_subvolumes(&vol.join("link")).expect_err("symlink");
    assert!(e.to_string().contains("link"), "{e}");
    Ok(())
}

#[test]
fn a_subvolume_inside_a_read_only_snapshot_is_listed() -> Result<()> {
    let fs = btrfs_fs("btrfs-ro-snap", 512)?;
    let m = &fs.mnt;
    let vol = btrfs::create_subvolume(m, "vol")?;
    std::fs::write(vol.join("f"), "x")?;
    let snap = btrfs::snapshot(&vol, m, "snap", false)?;
    std::fs::create_dir(snap.join("d"))?;
    let inner = btrfs::create_subvolume(&snap.join("d"), "inner")?;
    let innermost = btrfs::create_subvolume(&inner, "innermost")?;
    btrfs::set_readonly(&inner, true)?;
    btrfs::set_readonly(&snap, true)?;
    assert!(btrfs::is_readonly(&snap)? && btrfs::is_readonly(&inner)?);
    assert_eq!(nested(&snap)?, vec![inner.clone(), innermost.clone()]);
    assert_eq!(nested(&snap.join("d"))?, vec![inner.clone(), innermost]);
    assert_eq!(nested(&vol)?, Vec::<PathBuf>::new());
    assert_eq!(
        nested(m)?,
        vec![
            snap.clone(),
            inner.clone(),
            snap.join("d/inner/innermost"),
            vol.clone()
        ]
    );
    Ok(())
}

#[test]
fn a_snapshot_does_not_report_the_placeholders_of_nested_subvolumes() -> Result<()> {
    let fs = btrfs_fs("btrfs-placeholder", 512)?;
    let m = &fs.mnt;
    let vol = nesting_fixture(m)?;
    let snap = btrfs::snapshot(&vol, m, "snap", false)?;
    // The snapshot shows empty directories where vol's nested subvolumes are.
    for p in ["a", "dir/deeper/d", "dir/e"] {
        let st = std::fs::symlink_metadata(snap.join(p))?;
        assert!(st.is_dir(), "{p}");
        assert_ne!(std::os::unix::fs::MetadataExt::ino(&st), 256, "{p}");
        assert!(!btrfs::is_subvolume(&snap.join(p))?, "{p}");
        // Asked about a placeholder itself: nothing below it.
        assert_eq!(nested(&snap.join(p))?, Vec::<PathBuf>::new(), "{p}");
    }
    assert_eq!(nested(&snap)?, Vec::<PathBuf>::new());
    assert_eq!(nested(&snap.join("dir"))?, Vec::<PathBuf>::new());
    // The source still has all of them.
    assert_eq!(nested(&vol)?, nesting_paths(&vol));
    Ok(())
}

#[test]
fn subvolumes_hidden_by_mounts_are_not_listed() -> Result<()> {
    let fs = btrfs_fs("btrfs-hidden", 512)?;
    let m = &fs.mnt;
    // Bind mounts of a shared mount would propagate to each other: keep ours private.
    sh(&format!("mount --make-private {}", q(m)))?;
    let vol = nesting_fixture(m)?;
    let other = btrfs::create_subvolume(m, "other")?;
    std::fs::create_dir(vol.join("hidden"))?;
    btrfs::create_subvolume(&vol.join("hidden"), "h")?;
    std::fs::create_dir(vol.join("dir/mnt"))?;
    let all_with_h = sorted(
        nesting_paths(&vol)
            .into_iter()
            .chain([vol.join("hidden/h")])
            .collect(),
    );
    assert_eq!(nested(&vol)?, all_with_h);

    // A tmpfs over the directory holding `h`; `a` bind-mounted at dir/mnt (a subvolume as
    // the root of another mount below the path); `other` bind-mounted over `dir/e`, hiding
    // it and the subvolume nested in it.
    let tmpfs = common::Tmpfs::new(&vol.join("hidden"), "size=1m")?;
    std::fs::create_dir(tmpfs.dir.join("h"))?;
    let bind_a = BindMount::new(&vol.join("a"), &vol.join("dir/mnt"))?;
    let bind_other = BindMount::new(&other, &vol.join("dir/e"))?;
    assert!(btrfs::is_subvolume(&vol.join("dir/mnt"))?);
    let visible = below(&vol, &["a", "a/x/b", "a/x/b/y/z/c", "dir/deeper/d"]);
    assert_eq!(nested(&vol)?, visible);
    assert_eq!(nested(&vol.join("dir"))?, below(&vol, &["dir/deeper/d"]));
    // Asked from inside a mount: what is below there, on that mount.
    assert_eq!(
        nested(&vol.join("dir/mnt"))?,
        below(&vol, &["dir/mnt/x/b", "dir/mnt/x/b/y/z/c"])
    );
    assert_eq!(nested(&vol.join("dir/e"))?, Vec::<PathBuf>::new());
    // `a` bind-mounted over itself: its path now crosses into another mount.
    let bind_self = BindMount::new(&vol.join("a"), &vol.join("a"))?;
    assert_eq!(nested(&vol)?, below(&vol, &["dir/deeper/d"]));
    drop(bind_self);
    drop(bind_other);
    drop(bind_a);
    drop(tmpfs);
    assert_eq!(nested(&vol)?, all_with_h);
    Ok(())
}

/// A bind mount of `src` at `dst`, unmounted when dropped.
struct BindMount {
    dst: PathBuf,
}

impl BindMount {
    fn new(src: &Path, dst: &Path) -> Result<Self> {
        sh(&format!("mount --bind {} {}", q(src), q(dst)))?;
        Ok(BindMount {
            dst: dst.to_path_buf(),
        })
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        if let Err(e) = sh(&format!("umount {}", q(&self.dst))) {
            eprintln!("unmount {}: {e}", self.dst.display());
        }
    }
}

/// Times `runs` calls of `f`: the fastest and the median time, and the last result.
fn timed<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, Duration, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times[0], times[runs / 2], last.context("no run")?))
}

#[test]
fn tree_search_matches_the_walk_on_thousands_of_files_and_is_faster() -> Result<()> {
    let fs = btrfs_fs("btrfs-many", 512)?;
    let m = &fs.mnt;
    let vol = btrfs::create_subvolume(m, "rootfs")?;
    // Shaped like a small distribution root: 41 top directories of 17 subdirectories with
    // 9 small files each, about 7,000 entries, and 3 subvolumes at depth 1, 2 and 3.
    for t in 0..41 {
        for s in 0..17 {
            let d = vol.join(format!("top{t:02}/sub{s:02}"));
            std::fs::create_dir_all(&d)?;
            for f in 0..9 {
                std::fs::write(d.join(format!("file{f}.conf")), format!("{t} {s} {f}\n"))?;
            }
        }
    }
    let s1 = btrfs::create_subvolume(&vol.join("top05/sub03"), "s1")?;
    std::fs::create_dir(s1.join("inner"))?;
    let s2 = btrfs::create_subvolume(&s1.join("inner"), "s2")?;
    let s3 = btrfs::create_subvolume(&s2, "s3")?;
    let entries: usize = sh(&format!("find {} -mindepth 1 | wc -l", q(&vol)))?
        .trim()
        .parse()?;
    ensure!(entries >= 7000, "only {entries} entries");
    let want = vec![s1, s2, s3];

    let (fast_min, fast_med, fast) = timed(20, || Ok(btrfs::nested_subvolumes(&vol)?))?;
    let (walk_min, walk_med, walk) = without_sys_admin(|| {
        ensure_tree_search_refused(&vol)?;
        timed(20, || Ok(btrfs::nested_subvolumes(&vol)?))
    })?;
    assert_eq!(fast, want);
    assert_eq!(walk, want);
    println!(
        "nested_subvolumes on {entries} entries with 3 subvolumes, 20 runs: \
         tree search fastest {fast_min:?} median {fast_med:?}; \
         directory walk fastest {walk_min:?} median {walk_med:?} ({:.0}x)",
        walk_med.as_secs_f64() / fast_med.as_secs_f64()
    );
    Ok(())
}
