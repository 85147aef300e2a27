//! Loop devices on real files: attach/detach, autoclear released by the unmount, finding the
//! device of a file; checked with `losetup`, sysfs and `du`. Run as root.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use common::{q, require_tools, sh, unmount, TestDir};
use lxd_storage::{create_sparse_file, LoopDevice, LoopOptions, StorageError};

/// Detaches loop device `n` on drop if it is still backed by `file` (ours).
struct LoopGuard {
    number: u32,
    file: PathBuf,
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        if backing(self.number).as_deref() == Some(self.file.as_path()) {
            let _ = sh(&format!("losetup -d /dev/loop{}", self.number));
        }
    }
}

/// The backing file sysfs reports for loop device `n`.
fn backing(n: u32) -> Option<PathBuf> {
    std::fs::read_to_string(format!("/sys/block/loop{n}/loop/backing_file"))
        .ok()
        .map(|s| PathBuf::from(s.trim_end()))
}

/// The devices `losetup -j` lists for a file.
fn losetup_j(file: &Path) -> Result<Vec<String>> {
    Ok(sh(&format!("losetup -n -O NAME -j {}", q(file)))?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

fn wait_released(n: u32, file: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if backing(n).as_deref() != Some(file) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sparse_file_attach_find_detach() -> Result<()> {
    require_tools(&["losetup"])?;
    let t = TestDir::new("loop-basic")?;
    let file = std::fs::canonicalize(&t.path)?.join("disk.img");
    create_sparse_file(&file, 64 << 20)?;
    let (alloc, size) = common::du(&file)?;
    assert_eq!(size, 64 << 20);
    assert_eq!(alloc, 0, "a sparse file allocates nothing");
    let e = create_sparse_file(&file, 1 << 20).unwrap_err();
    assert!(matches!(e, StorageError::AlreadyExists { .. }), "{e}");
    assert!(create_sparse_file(&t.join("zero.img"), 0).is_err());
    assert!(!t.join("zero.img").exists());

    assert!(LoopDevice::find_by_backing_file(&file)?.is_none());
    let dev = LoopDevice::attach(&file, &LoopOptions::default())?;
    let _guard = LoopGuard {
        number: dev.number(),
        file: file.clone(),
    };
    assert_eq!(dev.path(), Path::new(&format!("/dev/loop{}", dev.number())));
    assert_eq!(dev.backing_file()?.as_deref(), Some(file.as_path()));
    assert_eq!(losetup_j(&file)?, vec![dev.path().display().to_string()]);
    assert_eq!(
        sh(&format!("blockdev --getsize64 {}", q(dev.path())))?.trim(),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        dev.status()?.lo_flags & lxd_storage::loopdev::LO_FLAGS_AUTOCLEAR,
        0
    );

    let found = LoopDevice::find_by_backing_file(&file)?.expect("found");
    assert_eq!(found.number(), dev.number());
    drop(found);

    // Without autoclear, closing the handle keeps the device.
    let n = dev.number();
    drop(dev);
    assert_eq!(backing(n).as_deref(), Some(file.as_path()));
    let dev = LoopDevice::find_by_backing_file(&file)?.expect("still attached");
    dev.detach()?;
    assert!(wait_released(n, &file), "loop{n} still bound after detach");
    assert!(losetup_j(&file)?.is_empty());
    assert!(LoopDevice::find_by_backing_file(&file)?.is_none());

    let e = LoopDevice::attach(&t.join("missing.img"), &LoopOptions::default()).unwrap_err();
    assert!(e.to_string().contains("missing.img"), "{e}");
    Ok(())
}

#[test]
fn autoclear_device_is_released_by_unmount() -> Result<()> {
    require_tools(&["mkfs.ext4", "losetup", "mount"])?;
    let t = TestDir::new("loop-autoclear")?;
    let file = std::fs::canonicalize(&t.path)?.join("disk.img");
    let mnt = t.join("mnt");
    std::fs::create_dir(&mnt)?;
    create_sparse_file(&file, 32 << 20)?;
    sh(&format!("mkfs.ext4 -q -F {}", q(&file)))?;

    let dev = LoopDevice::attach(
        &file,
        &LoopOptions {
            autoclear: true,
            ..Default::default()
        },
    )?;
    let n = dev.number();
    let _guard = LoopGuard {
        number: n,
        file: file.clone(),
    };
    assert_eq!(
        std::fs::read_to_string(format!("/sys/block/loop{n}/loop/autoclear"))?.trim(),
        "1"
    );
    sh(&format!("mount {} {}", q(dev.path()), q(&mnt)))?;
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            unmount(&self.0);
        }
    }
    let mounted = Unmount(mnt.clone());
    std::fs::write(mnt.join("f"), "data")?;

    // The mount holds the device after our handle is gone...
    drop(dev);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(backing(n).as_deref(), Some(file.as_path()));
    assert_eq!(std::fs::read_to_string(mnt.join("f"))?, "data");
    // ...and the unmount releases it.
    drop(mounted);
    assert!(wait_released(n, &file), "loop{n} still bound after umount");
    assert!(losetup_j(&file)?.is_empty());

    // Unmounted and not held: closing the handle releases it too.
    let dev = LoopDevice::attach(
        &file,
        &LoopOptions {
            autoclear: true,
            read_only: true,
            ..Default::default()
        },
    )?;
    let n = dev.number();
    let _guard2 = LoopGuard {
        number: n,
        file: file.clone(),
    };
    assert_eq!(
        std::fs::read_to_string(format!("/sys/block/loop{n}/ro"))?.trim(),
        "1"
    );
    drop(dev);
    assert!(wait_released(n, &file), "loop{n} still bound after close");
    Ok(())
}
