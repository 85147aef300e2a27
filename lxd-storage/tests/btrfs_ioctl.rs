//! The btrfs ioctl wrappers on a real btrfs filesystem in a loop file, checked with the
//! `btrfs` command (btrfs-progs), `df` and plain writes. Run as root.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
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
