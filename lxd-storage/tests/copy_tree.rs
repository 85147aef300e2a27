//! `copy_tree` and `remove_tree` on real filesystems: ext4 (the root fs, no reflink), xfs
//! with `reflink=1` and btrfs on loop files, and across filesystems. Every copy is checked
//! against its source with external tools only (see `common::view`). Run as root.

mod common;

use std::path::Path;

use anyhow::{ensure, Result};
use common::{assert_same, du, expected_counts, make_fixture, q, sh, view, LoopFs, TestDir, Tmpfs};
use lxd_storage::{copy_tree, reflink_supported, remove_tree, CopyOptions, Reflink, StorageError};
use nix::errno::Errno;

const MIB: u64 = 1024 * 1024;

/// Copies the fixture from `src` to `dst` and checks everything an outside tool can see.
fn copy_and_check(src: &Path, dst: &Path, opts: &CopyOptions, want_reflink: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let stats = copy_tree(src, dst, opts)?;
    eprintln!(
        "copy {} -> {}: {stats:?} in {:?}",
        src.display(),
        dst.display(),
        started.elapsed()
    );

    // The listing of the source comes after the copy: the copy must not have changed it.
    let sv = view(src)?;
    let dv = view(dst)?;
    assert_same(&sv, &dv);

    let (bytes, files, dirs) = expected_counts(src)?;
    assert_eq!(stats.bytes, bytes, "bytes");
    assert_eq!(stats.files, files, "non-directories");
    assert_eq!(stats.dirs, dirs, "directories");
    assert_eq!(
        stats.hardlinks, 4,
        "extra hard link names: link-b, t2, t3, sym-hard"
    );
    assert_eq!(stats.reflinked, want_reflink, "reflinked");

    // Holes stay holes.
    let (src_alloc, apparent) = du(&src.join("sparse"))?;
    let (dst_alloc, dst_apparent) = du(&dst.join("sparse"))?;
    assert_eq!(apparent, 64 * MIB);
    assert_eq!(dst_apparent, apparent);
    assert!(
        dst_alloc < apparent / 8,
        "sparse copy allocates {dst_alloc} of {apparent}"
    );
    assert!(
        dst_alloc <= src_alloc + MIB,
        "sparse copy allocates {dst_alloc}, source {src_alloc}"
    );

    // The copy is independent of its source.
    let before = sh(&format!(
        "sha256sum {} {}",
        q(&src.join("hello")),
        q(&src.join("sparse"))
    ))?;
    sh(&format!(
        "printf changed >> {h} && printf XXXX | dd of={s} bs=1 seek=$((40*1024*1024+17)) conv=notrunc status=none",
        h = q(&dst.join("hello")),
        s = q(&dst.join("sparse"))
    ))?;
    let after = sh(&format!(
        "sha256sum {} {}",
        q(&src.join("hello")),
        q(&src.join("sparse"))
    ))?;
    assert_eq!(before, after, "writing to the copy changed the source");
    ensure!(
        sh(&format!(
            "cmp -s {} {}",
            q(&src.join("sparse")),
            q(&dst.join("sparse"))
        ))
        .is_err(),
        "the copy's change is not visible in the copy"
    );

    // remove_tree copes with the read-only and unreadable directories.
    remove_tree(dst)?;
    ensure!(!dst.exists(), "{} still exists", dst.display());
    Ok(())
}

#[test]
fn copy_on_ext4_without_reflink() -> Result<()> {
    let t = TestDir::new("copy-ext4")?;
    let src = t.join("src");
    make_fixture(&src, 3000)?;
    assert!(!reflink_supported(&t.path), "ext4 root fs must not reflink");
    copy_and_check(&src, &t.join("dst"), &CopyOptions::default(), false)?;
    // One and eight threads give the same result.
    for threads in [1, 8] {
        let opts = CopyOptions {
            threads: Some(threads),
            ..Default::default()
        };
        copy_and_check(&src, &t.join(&format!("dst{threads}")), &opts, false)?;
    }
    Ok(())
}

/// Copies within a loop-mounted reflink filesystem: the fixture, then a 100 MB file that
/// must cost (almost) no space.
fn copy_with_reflink(fstype: &str) -> Result<()> {
    let fs = LoopFs::new(&format!("copy-{fstype}"), fstype, 1024)?;
    assert!(reflink_supported(&fs.mnt), "{fstype} must reflink");
    let src = fs.mnt.join("src");
    make_fixture(&src, 3000)?;
    copy_and_check(&src, &fs.mnt.join("dst"), &CopyOptions::default(), true)?;

    let big_src = fs.mnt.join("big-src");
    std::fs::create_dir(&big_src)?;
    sh(&format!(
        "head -c 100M /dev/urandom > {}/big && sync",
        q(&big_src)
    ))?;
    let free_before = fs.avail()?;
    let big_dst = fs.mnt.join("big-dst");
    let stats = copy_tree(&big_src, &big_dst, &CopyOptions::default())?;
    sh("sync")?;
    let free_after = fs.avail()?;
    assert!(stats.reflinked, "{stats:?}");
    assert_eq!(stats.bytes, 100 * MIB);
    let used = free_before.saturating_sub(free_after);
    eprintln!("{fstype}: 100 MiB reflink copy used {used} bytes");
    assert!(used < 4 * MIB, "reflink copy used {used} bytes");
    sh(&format!("cmp {}/big {}/big", q(&big_src), q(&big_dst)))?;
    // Overwriting the copy leaves the source alone (copy-on-write).
    let sum = sh(&format!("sha256sum < {}/big", q(&big_src)))?;
    sh(&format!(
        "head -c 1M /dev/urandom | dd of={}/big conv=notrunc status=none",
        q(&big_dst)
    ))?;
    assert_eq!(sum, sh(&format!("sha256sum < {}/big", q(&big_src)))?);

    // Reflink::Never copies the data for real.
    let copied = fs.mnt.join("big-copied");
    let stats = copy_tree(
        &big_src,
        &copied,
        &CopyOptions {
            reflink: Reflink::Never,
            ..Default::default()
        },
    )?;
    assert!(!stats.reflinked);
    sh(&format!("cmp {}/big {}/big", q(&big_src), q(&copied)))?;
    Ok(())
}

#[test]
fn copy_on_xfs_with_reflink() -> Result<()> {
    copy_with_reflink("xfs")
}

#[test]
fn copy_on_btrfs_with_reflink() -> Result<()> {
    copy_with_reflink("btrfs")
}

/// ext4 to xfs: no reflink, no cross-filesystem copy_file_range, so read/write.
#[test]
fn copy_across_filesystems() -> Result<()> {
    let t = TestDir::new("copy-cross")?;
    let src = t.join("src");
    make_fixture(&src, 300)?;
    let fs = LoopFs::new("copy-cross-xfs", "xfs", 512)?;
    copy_and_check(&src, &fs.mnt.join("dst"), &CopyOptions::default(), false)
}

#[test]
fn copy_stays_on_one_filesystem() -> Result<()> {
    let t = TestDir::new("copy-onefs")?;
    let src = t.join("src");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("top"), "top")?;
    let mnt = Tmpfs::new(&src.join("mnt"), "size=4m,mode=0751")?;
    std::fs::write(mnt.dir.join("inside"), "inside")?;

    let stats = copy_tree(&src, &t.join("dst"), &CopyOptions::default())?;
    assert_eq!((stats.files, stats.dirs), (1, 2), "{stats:?}");
    let listing = sh(&format!("cd {} && find . | sort", q(&t.join("dst"))))?;
    assert_eq!(listing, ".\n./mnt\n./top\n");
    // The mount point is copied with the metadata of the mounted root.
    assert_eq!(
        sh(&format!("stat -c %a {}", q(&t.join("dst/mnt"))))?.trim(),
        "751"
    );

    let stats = copy_tree(
        &src,
        &t.join("dst-all"),
        &CopyOptions {
            one_file_system: false,
            ..Default::default()
        },
    )?;
    assert_eq!((stats.files, stats.dirs), (2, 2), "{stats:?}");
    assert_eq!(
        std::fs::read_to_string(t.join("dst-all/mnt/inside"))?,
        "inside"
    );
    Ok(())
}

#[test]
fn copy_into_existing_empty_directory() -> Result<()> {
    let t = TestDir::new("copy-existing")?;
    let src = t.join("src");
    make_fixture(&src, 10)?;
    let dst = t.join("dst");
    std::fs::create_dir(&dst)?;
    // A default ACL on the destination must not leak into the copy.
    sh(&format!("setfacl -d -m u:777:rwx {}", q(&dst)))?;
    copy_and_check(&src, &dst, &CopyOptions::default(), false)
}

#[test]
fn copy_refuses_bad_arguments_and_leaves_nothing() -> Result<()> {
    let t = TestDir::new("copy-bad")?;
    let src = t.join("src");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("f"), "f")?;

    let missing = t.join("missing");
    let e = copy_tree(&missing, &t.join("d1"), &CopyOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    assert_eq!(e.errno(), Some(Errno::ENOENT));
    assert!(!t.join("d1").exists());

    let e = copy_tree(&src.join("f"), &t.join("d2"), &CopyOptions::default()).unwrap_err();
    assert!(matches!(e, StorageError::Invalid { .. }), "{e}");
    assert!(!t.join("d2").exists());

    let nonempty = t.join("nonempty");
    std::fs::create_dir(&nonempty)?;
    std::fs::write(nonempty.join("keep"), "keep")?;
    let e = copy_tree(&src, &nonempty, &CopyOptions::default()).unwrap_err();
    assert!(matches!(e, StorageError::InUse { .. }), "{e}");
    assert!(e.to_string().contains("nonempty"), "{e}");
    assert_eq!(std::fs::read_to_string(nonempty.join("keep"))?, "keep");

    let inside = src.join("inner");
    let e = copy_tree(&src, &inside, &CopyOptions::default()).unwrap_err();
    assert!(matches!(e, StorageError::Invalid { .. }), "{e}");
    assert!(!inside.exists());

    let e = copy_tree(
        &src,
        &t.join("d3"),
        &CopyOptions {
            reflink: Reflink::Always,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, StorageError::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("/src/f"), "{e}");
    remove_tree(&t.join("d3"))?;
    Ok(())
}

#[test]
fn copy_error_names_the_file_that_failed() -> Result<()> {
    let t = TestDir::new("copy-full")?;
    let src = t.join("src");
    std::fs::create_dir_all(src.join("a/b"))?;
    sh(&format!(
        "head -c 4M /dev/urandom > {}",
        q(&src.join("a/b/big"))
    ))?;
    let full = Tmpfs::new(&t.join("full"), "size=1m")?;
    let dst = full.dir.join("dst");
    let e = copy_tree(&src, &dst, &CopyOptions::default()).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOSPC), "{e}");
    assert!(e.to_string().contains("dst/a/b/big"), "{e}");
    remove_tree(&dst)?;
    assert!(!dst.exists());
    Ok(())
}

#[test]
fn remove_tree_handles_read_only_dirs_and_refuses_mounts() -> Result<()> {
    let t = TestDir::new("remove")?;
    // Missing path: nothing to do.
    remove_tree(&t.join("missing"))?;
    // A single file.
    std::fs::write(t.join("file"), "x")?;
    remove_tree(&t.join("file"))?;
    assert!(!t.join("file").exists());

    let tree = t.join("tree");
    make_fixture(&tree, 500)?;
    sh(&format!("chmod 0500 {}", q(&tree)))?;
    remove_tree(&tree)?;
    assert!(!tree.exists());

    // A mount inside the tree stops the removal before anything in the mount is touched.
    let tree = t.join("tree2");
    std::fs::create_dir_all(tree.join("a/b"))?;
    std::fs::write(tree.join("a/file"), "x")?;
    let mnt = Tmpfs::new(&tree.join("a/b/mnt"), "size=1m")?;
    std::fs::write(mnt.dir.join("precious"), "keep")?;
    let e = remove_tree(&tree).unwrap_err();
    assert!(matches!(e, StorageError::InUse { .. }), "{e}");
    assert!(e.to_string().contains("a/b/mnt"), "{e}");
    assert_eq!(std::fs::read_to_string(mnt.dir.join("precious"))?, "keep");
    // And the mount itself is refused as a root.
    let e = remove_tree(&mnt.dir).unwrap_err();
    assert!(matches!(e, StorageError::InUse { .. }), "{e}");
    drop(mnt);
    remove_tree(&tree)?;
    assert!(!tree.exists());
    Ok(())
}
