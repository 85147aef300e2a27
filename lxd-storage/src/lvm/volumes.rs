//! Volumes of an `lvm` pool: logical volumes (thin volumes in the pool's thin pool, or
//! classic ones) holding an ext4 or xfs filesystem, mounted at LXD's paths under the pool
//! directory when needed. Snapshots are read-only thin snapshots (classic copy-on-write
//! snapshots without a thin pool); copies and instances made from an image are writable thin
//! snapshots, or full copies of the files into a new volume without a thin pool.

use std::path::{Path, PathBuf};

use lxd_core::store::VolumeType;
use lxd_core::{PoolInfo, VolumeInfo};

use super::cmd::{self, lvm, Inventory};
use super::config::{round_size, PoolConfig};
use super::error::{LvmError, Result};
use super::fs::{used_bytes, Fs, TempMount};
use super::names::{
    check_lv_name, check_snapshot_name, parse_lv, snapshot_lv, volume_lv, OLD_SUFFIX,
    RESTORE_SUFFIX,
};
use crate::copy::{copy_tree, remove_tree, CopyOptions};
use crate::error::StorageError;
use crate::mounts;

/// A pool's volumes, with its resolved settings.
pub struct Volumes<'a> {
    pool: &'a PoolInfo,
    pc: PoolConfig,
}

/// Where a volume's files can be read or written for a while: its own mount, or a private
/// one that goes away with this value.
enum Access {
    /// Mounted at the volume's path already.
    Mounted(PathBuf),
    /// A private mount.
    Temp(TempMount),
}

impl Access {
    fn path(&self) -> &Path {
        match self {
            Access::Mounted(p) => p,
            Access::Temp(t) => t.path(),
        }
    }

    fn release(self) -> Result<()> {
        match self {
            Access::Mounted(_) => Ok(()),
            Access::Temp(t) => t.release(),
        }
    }
}

/// Removes everything inside the directory `dir` (a volume's root), not `dir` itself.
fn empty_dir(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| StorageError::io("read directory", dir, e))? {
        let e = e.map_err(|e| StorageError::io("read directory", dir, e))?;
        remove_tree(&e.path())?;
    }
    Ok(())
}

/// Makes a directory (and its parents) with mode 0711, LXD's mode for mount points.
fn mount_point(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io("create", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
        .map_err(|e| StorageError::io("chmod", dir, e))?;
    Ok(())
}

/// Removes a mount point directory; a leftover tree in it (written while the volume was not
/// mounted) goes too, but never anything mounted.
fn remove_mount_point(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(remove_tree(dir)?),
        Err(e) => Err(StorageError::io("remove", dir, e).into()),
    }
}

fn mounted(path: &Path) -> Result<bool> {
    Ok(mounts::is_mounted(path)?)
}

impl<'a> Volumes<'a> {
    /// The volumes of `pool`.
    pub fn new(pool: &'a PoolInfo) -> Result<Volumes<'a>> {
        Ok(Volumes {
            pool,
            pc: PoolConfig::of(pool)?,
        })
    }

    fn vg(&self) -> &str {
        &self.pc.vg
    }

    fn full(&self, lv: &str) -> String {
        format!("{}/{lv}", self.pc.vg)
    }

    /// The logical volume of `vol`, checked against LVM's naming rules.
    pub fn lv(&self, vol: &VolumeInfo) -> Result<String> {
        let lv = volume_lv(vol.volume_type, &vol.name);
        check_lv_name("volume name", self.vg(), &lv)?;
        Ok(lv)
    }

    fn snap_lv(&self, vol: &VolumeInfo, snapshot: &str) -> Result<String> {
        check_snapshot_name(snapshot)?;
        let lv = snapshot_lv(vol.volume_type, &vol.name, snapshot);
        check_lv_name("snapshot name", self.vg(), &lv)?;
        Ok(lv)
    }

    fn dev(&self, lv: &str) -> PathBuf {
        cmd::dev_path(self.vg(), lv)
    }

    /// The pool's logical volumes now (one `lvs` call).
    fn inventory(&self) -> Result<Inventory> {
        Inventory::read(self.vg())
    }

    /// Activates a logical volume (snapshots carry LVM's activation-skip flag) unless its
    /// device is there already.
    fn activate(&self, lv: &str) -> Result<PathBuf> {
        let dev = self.dev(lv);
        if !dev.exists() {
            let full = self.full(lv);
            lvm("activate", &full, &["lvchange", "-ay", "-K", &full])?;
            if !dev.exists() {
                return Err(LvmError::NotFound {
                    what: "device of the activated logical volume",
                    name: dev.display().to_string(),
                });
            }
        }
        Ok(dev)
    }

    fn remove_lv(&self, lv: &str) -> Result<()> {
        let full = self.full(lv);
        lvm("remove", &full, &["lvremove", "--yes", "-f", &full]).map(drop)
    }

    fn rename_lv(&self, from: &str, to: &str) -> Result<()> {
        let f = self.full(from);
        lvm("rename", &f, &["lvrename", self.vg(), from, to]).map(drop)
    }

    /// Creates an empty logical volume of `size` bytes (a thin volume when the pool has a
    /// thin pool).
    fn create_lv(&self, lv: &str, size: u64) -> Result<()> {
        let full = self.full(lv);
        let sz = format!("{size}b");
        match self.pc.thinpool_path() {
            Some(tp) => lvm(
                "create thin volume",
                &full,
                &[
                    "lvcreate",
                    "--yes",
                    "-Wy",
                    "--name",
                    lv,
                    "--type",
                    "thin",
                    "-V",
                    &sz,
                    "--thinpool",
                    &tp,
                ],
            ),
            None => lvm(
                "create logical volume",
                &full,
                &[
                    "lvcreate",
                    "--yes",
                    "-Wy",
                    "--name",
                    lv,
                    "-L",
                    &sz,
                    self.vg(),
                ],
            ),
        }
        .map(drop)
    }

    /// Snapshots `src` as `dst`: read-only snapshots keep LVM's activation-skip flag (they
    /// are activated when mounted), writable ones (copies, restores) are active at once.
    /// Thin snapshots without a thin pool are classic snapshots as large as their origin,
    /// so they cannot overflow.
    fn snapshot(&self, src: &str, dst: &str, writable: bool) -> Result<()> {
        let from = self.full(src);
        let to = self.full(dst);
        let mut args = vec!["lvcreate", "--yes", "-s", "--name", dst];
        if writable {
            args.extend(["-prw", "-kn", "-ay"]);
        } else {
            args.extend(["-pr", "-ky"]);
        }
        if self.pc.thinpool.is_none() {
            args.extend(["-l", "100%ORIGIN"]);
        }
        args.push(&from);
        lvm("snapshot", &format!("{from} as {to}"), &args).map(drop)
    }

    fn fs_of(&self, lv: &str) -> Result<Fs> {
        Fs::detect(&self.activate(lv)?)
    }

    /// A private mount of a logical volume.
    fn temp_mount(&self, lv: &str, read_only: bool, snapshot: bool) -> Result<TempMount> {
        let dev = self.activate(lv)?;
        let fs = Fs::detect(&dev)?;
        TempMount::new(
            &self.pool.mount_path,
            &dev,
            fs,
            &fs.options(&self.pc.mount_options, snapshot),
            read_only,
        )
    }

    /// The files of a volume (its own mount when it has one, else a private mount).
    fn access(&self, vol: &VolumeInfo, lv: &str, read_only: bool) -> Result<Access> {
        let p = vol.path(self.pool);
        if mounted(&p)? {
            return Ok(Access::Mounted(p));
        }
        Ok(Access::Temp(self.temp_mount(lv, read_only, false)?))
    }

    /// The files of a snapshot, read-only.
    fn access_snapshot(&self, vol: &VolumeInfo, snapshot: &str, lv: &str) -> Result<Access> {
        let p = vol.snapshot_path(self.pool, snapshot);
        if mounted(&p)? {
            return Ok(Access::Mounted(p));
        }
        Ok(Access::Temp(self.temp_mount(lv, true, true)?))
    }

    /// Creates an empty volume: the logical volume, its filesystem (without `lost+found`, so
    /// the volume starts empty; a container's gets its `rootfs/`), and its mount point. An
    /// image volume stays mounted for the pool layer to fill it, until it is sealed.
    pub fn create(&self, vol: &VolumeInfo) -> Result<()> {
        let lv = self.lv(vol)?;
        let size = self.pc.volume_size(vol)?;
        let fs = self.pc.volume_filesystem(vol)?;
        let mp = vol.path(self.pool);
        if mounted(&mp)? {
            return Err(LvmError::InUse {
                what: "mount point",
                name: mp.display().to_string(),
                reason: "something is mounted there".into(),
            });
        }
        self.inventory()?.absent(&lv, "logical volume")?;
        self.create_lv(&lv, size)?;
        let r = (|| -> Result<()> {
            let dev = self.activate(&lv)?;
            fs.make(&dev)?;
            mount_point(&mp)?;
            if vol.volume_type == VolumeType::Image {
                fs.mount(&dev, &mp, &fs.options(&self.pc.mount_options, false), false)?;
                tidy_new_fs(&mp, vol.volume_type)?;
            } else {
                let t = TempMount::new(
                    &self.pool.mount_path,
                    &dev,
                    fs,
                    &fs.options(&self.pc.mount_options, false),
                    false,
                )?;
                tidy_new_fs(t.path(), vol.volume_type)?;
                t.release()?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            let _ = mounts::unmount_all(&mp);
            let _ = remove_mount_point(&mp);
            let _ = self.remove_lv(&lv);
            return Err(e);
        }
        tracing::debug!(
            lv = self.full(&lv),
            size,
            fs = fs.name(),
            "lvm: volume created"
        );
        Ok(())
    }

    /// Seals a filled image volume: unmounted, and its logical volume made read-only.
    pub fn seal(&self, vol: &VolumeInfo) -> Result<()> {
        let lv = self.lv(vol)?;
        mounts::unmount_all(&vol.path(self.pool))?;
        let full = self.full(&lv);
        lvm("make read-only", &full, &["lvchange", "-pr", &full]).map(drop)
    }

    /// Creates `vol` from the image volume `image`: a writable thin snapshot of it, or, without
    /// a thin pool, a new volume of the image's size filled with a copy of its files.
    pub fn create_from_image(&self, vol: &VolumeInfo, image: &VolumeInfo) -> Result<()> {
        let lv = self.lv(vol)?;
        let img = self.lv(image)?;
        let inv = self.inventory()?;
        let img_size = inv.require(&img)?.size;
        inv.absent(&lv, "logical volume")?;
        if self.pc.thinpool.is_some() {
            self.snapshot(&img, &lv, true)?;
            if let Err(e) = mount_point(&vol.path(self.pool)) {
                let _ = self.remove_lv(&lv);
                return Err(e);
            }
            return Ok(());
        }
        self.full_copy(vol, &lv, image, &img, img_size, &[])
    }

    /// Creates `vol` as a copy of `src` with copies of the named snapshots (oldest first).
    pub fn copy(&self, vol: &VolumeInfo, src: &VolumeInfo, snapshots: &[String]) -> Result<()> {
        let lv = self.lv(vol)?;
        let src_lv = self.lv(src)?;
        let inv = self.inventory()?;
        let src_size = inv.require(&src_lv)?.size;
        inv.absent(&lv, "logical volume")?;
        let mut snaps = Vec::new();
        for s in snapshots {
            let from = self.snap_lv(src, s)?;
            let to = self.snap_lv(vol, s)?;
            inv.absent(&to, "logical volume")?;
            snaps.push((s.clone(), from, to));
        }
        if self.pc.thinpool.is_none() {
            let pairs: Vec<(String, String)> =
                snaps.into_iter().map(|(s, from, _)| (s, from)).collect();
            return self.full_copy(vol, &lv, src, &src_lv, src_size, &pairs);
        }
        let mut made: Vec<String> = Vec::new();
        let r = (|| -> Result<()> {
            for (s, from, to) in &snaps {
                inv.require(from)?;
                self.snapshot(from, to, false)?;
                made.push(to.clone());
                mount_point(&vol.snapshot_path(self.pool, s))?;
            }
            self.snapshot(&src_lv, &lv, true)?;
            made.push(lv.clone());
            mount_point(&vol.path(self.pool))?;
            Ok(())
        })();
        if let Err(e) = r {
            self.undo_copy(vol, &made, snapshots);
            return Err(e);
        }
        Ok(())
    }

    /// Creates `vol` from `src`'s snapshot: a writable thin snapshot of the snapshot's volume,
    /// or, without a thin pool, a new classic volume of the snapshot's size filled with its
    /// files.
    pub fn copy_from_snapshot(
        &self,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshot: &str,
    ) -> Result<()> {
        let lv = self.lv(vol)?;
        let snap_lv = self.snap_lv(src, snapshot)?;
        let inv = self.inventory()?;
        let size = inv.require(&snap_lv)?.size;
        inv.absent(&lv, "logical volume")?;
        if self.pc.thinpool.is_some() {
            self.snapshot(&snap_lv, &lv, true)?;
            if let Err(e) = mount_point(&vol.path(self.pool)) {
                let _ = self.remove_lv(&lv);
                return Err(e);
            }
            return Ok(());
        }
        let fs = self.fs_of(&snap_lv)?;
        let mut made = false;
        let r = (|| -> Result<()> {
            self.create_lv(&lv, round_size("size", size)?)?;
            made = true;
            fs.make(&self.activate(&lv)?)?;
            let from = self.access_snapshot(src, snapshot, &snap_lv)?;
            let dst = self.temp_mount(&lv, false, false)?;
            empty_dir(dst.path())?;
            let copied = copy_tree(from.path(), dst.path(), &CopyOptions::default());
            dst.release()?;
            from.release()?;
            copied?;
            mount_point(&vol.path(self.pool))
        })();
        if let Err(e) = r {
            if made {
                let _ = self.remove_lv(&lv);
            }
            let _ = remove_mount_point(&vol.path(self.pool));
            return Err(e);
        }
        Ok(())
    }

    fn undo_copy(&self, vol: &VolumeInfo, lvs: &[String], snapshots: &[String]) {
        for lv in lvs.iter().rev() {
            let _ = self.remove_lv(lv);
        }
        for s in snapshots {
            let _ = remove_mount_point(&vol.snapshot_path(self.pool, s));
        }
        let _ = std::fs::remove_dir(vol.snapshots_dir(self.pool));
        let _ = remove_mount_point(&vol.path(self.pool));
    }

    /// A full copy into a new classic volume `lv` of `src`'s size and filesystem: each
    /// snapshot's files in turn (oldest first), each followed by a snapshot of the new volume,
    /// then the source's own files.
    fn full_copy(
        &self,
        vol: &VolumeInfo,
        lv: &str,
        src: &VolumeInfo,
        src_lv: &str,
        size: u64,
        snapshots: &[(String, String)],
    ) -> Result<()> {
        let inv = self.inventory()?;
        let fs = self.fs_of(src_lv)?;
        let names: Vec<String> = snapshots.iter().map(|(s, _)| s.clone()).collect();
        let mut made: Vec<String> = Vec::new();
        let r = (|| -> Result<()> {
            self.create_lv(lv, round_size("size", size)?)?;
            made.push(lv.to_string());
            let dev = self.activate(lv)?;
            fs.make(&dev)?;
            let fill = |from: &Access| -> Result<()> {
                let dst = self.temp_mount(lv, false, false)?;
                empty_dir(dst.path())?;
                copy_tree(from.path(), dst.path(), &CopyOptions::default())?;
                dst.release()
            };
            for (s, from_lv) in snapshots {
                inv.require(from_lv)?;
                let from = self.access_snapshot(src, s, from_lv)?;
                fill(&from)?;
                from.release()?;
                let to = self.snap_lv(vol, s)?;
                self.snapshot(lv, &to, false)?;
                made.push(to);
                mount_point(&vol.snapshot_path(self.pool, s))?;
            }
            let from = self.access(src, src_lv, true)?;
            fill(&from)?;
            from.release()?;
            mount_point(&vol.path(self.pool))?;
            Ok(())
        })();
        if let Err(e) = r {
            // Snapshots first: a classic origin cannot go while it has them.
            let (origin, snaps) = made
                .split_first()
                .map_or((None, &[][..]), |(o, s)| (Some(o), s));
            self.undo_copy(vol, snaps, &names);
            if let Some(o) = origin {
                let _ = self.remove_lv(o);
            }
            return Err(e);
        }
        Ok(())
    }

    /// The logical volumes of `vol`'s snapshots, by snapshot name.
    fn snapshots_of(&self, inv: &Inventory, vol: &VolumeInfo) -> Vec<(String, String)> {
        inv.all()
            .iter()
            .filter_map(|l| {
                let p = parse_lv(vol.volume_type, &l.name)?;
                (p.volume == vol.name)
                    .then_some(p.snapshot)
                    .flatten()
                    .map(|s| (s, l.name.clone()))
            })
            .collect()
    }

    /// Deletes a volume (unmounting it first), with any snapshot logical volume of it that
    /// is left, and its mount points.
    pub fn delete(&self, vol: &VolumeInfo) -> Result<()> {
        let lv = self.lv(vol)?;
        let mp = vol.path(self.pool);
        mounts::unmount_all(&mp)?;
        let inv = self.inventory()?;
        for (s, snap) in self.snapshots_of(&inv, vol) {
            mounts::unmount_all(&vol.snapshot_path(self.pool, &s))?;
            self.remove_lv(&snap)?;
            remove_mount_point(&vol.snapshot_path(self.pool, &s))?;
        }
        if inv.get(&lv).is_some() {
            self.remove_lv(&lv)?;
        }
        remove_mount_point(&mp)?;
        let sd = vol.snapshots_dir(self.pool);
        if sd.exists() {
            std::fs::remove_dir(&sd).map_err(|e| StorageError::io("remove", &sd, e))?;
        }
        tracing::debug!(lv = self.full(&lv), "lvm: volume deleted");
        Ok(())
    }

    /// Renames a volume with its snapshots and mount points; everything goes back if a step
    /// fails. A mounted volume is unmounted first.
    pub fn rename(&self, vol: &VolumeInfo, new_name: &str) -> Result<()> {
        let renamed = VolumeInfo {
            name: new_name.to_string(),
            ..vol.clone()
        };
        let lv = self.lv(vol)?;
        let new_lv = self.lv(&renamed)?;
        let inv = self.inventory()?;
        inv.require(&lv)?;
        inv.absent(&new_lv, "logical volume")?;
        let (from_mp, to_mp) = (vol.path(self.pool), renamed.path(self.pool));
        if to_mp.exists() {
            return Err(LvmError::AlreadyExists {
                what: "mount point",
                name: to_mp.display().to_string(),
            });
        }
        let snaps = self.snapshots_of(&inv, vol);
        let mut pairs = Vec::new();
        for (s, snap) in &snaps {
            let to = self.snap_lv(&renamed, s)?;
            inv.absent(&to, "logical volume")?;
            pairs.push((snap.clone(), to));
            mounts::unmount_all(&vol.snapshot_path(self.pool, s))?;
        }
        mounts::unmount_all(&from_mp)?;
        pairs.push((lv, new_lv));
        let mut done: Vec<(String, String)> = Vec::new();
        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        let r = (|| -> Result<()> {
            for (from, to) in &pairs {
                self.rename_lv(from, to)?;
                done.push((from.clone(), to.clone()));
            }
            for (from, to) in [
                (
                    vol.snapshots_dir(self.pool),
                    renamed.snapshots_dir(self.pool),
                ),
                (from_mp.clone(), to_mp.clone()),
            ] {
                if from.exists() {
                    std::fs::rename(&from, &to)
                        .map_err(|e| StorageError::io("rename", &from, e))?;
                    moved.push((from, to));
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            for (from, to) in moved.iter().rev() {
                let _ = std::fs::rename(to, from);
            }
            for (from, to) in done.iter().rev() {
                let _ = self.rename_lv(to, from);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Takes a read-only snapshot of a volume (consistent while it is mounted: device-mapper
    /// freezes the filesystem while it suspends the origin).
    pub fn create_snapshot(&self, vol: &VolumeInfo, snapshot: &str) -> Result<()> {
        let lv = self.lv(vol)?;
        let snap = self.snap_lv(vol, snapshot)?;
        let inv = self.inventory()?;
        inv.require(&lv)?;
        inv.absent(&snap, "snapshot")?;
        self.snapshot(&lv, &snap, false)?;
        if let Err(e) = mount_point(&vol.snapshot_path(self.pool, snapshot)) {
            let _ = self.remove_lv(&snap);
            return Err(e);
        }
        Ok(())
    }

    /// Deletes a snapshot and its mount point.
    pub fn delete_snapshot(&self, vol: &VolumeInfo, snapshot: &str) -> Result<()> {
        let snap = self.snap_lv(vol, snapshot)?;
        let mp = vol.snapshot_path(self.pool, snapshot);
        mounts::unmount_all(&mp)?;
        if self.inventory()?.get(&snap).is_some() {
            self.remove_lv(&snap)?;
        }
        remove_mount_point(&mp)?;
        let _ = std::fs::remove_dir(vol.snapshots_dir(self.pool));
        Ok(())
    }

    /// Renames a snapshot and its mount point.
    pub fn rename_snapshot(&self, vol: &VolumeInfo, snapshot: &str, new_name: &str) -> Result<()> {
        let from = self.snap_lv(vol, snapshot)?;
        let to = self.snap_lv(vol, new_name)?;
        let inv = self.inventory()?;
        inv.require(&from)?;
        inv.absent(&to, "snapshot")?;
        let (fm, tm) = (
            vol.snapshot_path(self.pool, snapshot),
            vol.snapshot_path(self.pool, new_name),
        );
        mounts::unmount_all(&fm)?;
        self.rename_lv(&from, &to)?;
        if fm.exists() {
            if let Err(e) = std::fs::rename(&fm, &tm) {
                let _ = self.rename_lv(&to, &from);
                return Err(StorageError::io("rename", &fm, e).into());
            }
        }
        Ok(())
    }

    /// Puts a volume back to a snapshot: with a thin pool a writable thin snapshot of the
    /// snapshot takes the volume's place (grown back to the volume's size if it was grown
    /// since); without one the snapshot's files are copied over the volume's.
    pub fn restore(&self, vol: &VolumeInfo, snapshot: &str) -> Result<()> {
        let lv = self.lv(vol)?;
        let snap = self.snap_lv(vol, snapshot)?;
        let inv = self.inventory()?;
        let current = inv.require(&lv)?.clone();
        inv.require(&snap)?;
        let mp = vol.path(self.pool);
        if self.pc.thinpool.is_none() {
            let from = self.access_snapshot(vol, snapshot, &snap)?;
            let to = self.access(vol, &lv, false)?;
            empty_dir(to.path())?;
            copy_tree(from.path(), to.path(), &CopyOptions::default())?;
            to.release()?;
            return from.release();
        }
        let was_mounted = mounted(&mp)?;
        if was_mounted {
            mounts::unmount_all(&mp).map_err(|e| LvmError::InUse {
                what: "volume",
                name: mp.display().to_string(),
                reason: format!("it must be unmounted to be restored: {e}"),
            })?;
        }
        let staging = format!("{lv}{RESTORE_SUFFIX}");
        let old = format!("{lv}{OLD_SUFFIX}");
        for stale in [&staging, &old] {
            if inv.get(stale).is_some() {
                self.remove_lv(stale)?;
            }
        }
        self.snapshot(&snap, &staging, true)?;
        let snap_size = inv.require(&snap)?.size;
        let r = (|| -> Result<()> {
            if snap_size < current.size {
                self.resize_lv(&staging, current.size, false)?;
                let fs = self.fs_of(&staging)?;
                let t = self.temp_mount(&staging, false, false)?;
                fs.grow(&self.dev(&staging), t.path())?;
                t.release()?;
            }
            self.rename_lv(&lv, &old)?;
            if let Err(e) = self.rename_lv(&staging, &lv) {
                let _ = self.rename_lv(&old, &lv);
                return Err(e);
            }
            Ok(())
        })();
        if let Err(e) = r {
            let _ = self.remove_lv(&staging);
            if was_mounted {
                let _ = self.mount(vol);
            }
            return Err(e);
        }
        self.remove_lv(&old)?;
        if was_mounted {
            self.mount(vol)?;
        }
        Ok(())
    }

    /// Resizes a logical volume (not its filesystem). A classic volume with snapshots resizes
    /// only while inactive, so it is deactivated (with its snapshots) for the resize.
    fn resize_lv(&self, lv: &str, size: u64, classic_origin: bool) -> Result<()> {
        let full = self.full(lv);
        let sz = format!("{size}b");
        let origin = self.pc.thinpool.is_none() && classic_origin;
        if origin {
            lvm("deactivate", &full, &["lvchange", "-an", &full])?;
        }
        let r = lvm("resize", &full, &["lvresize", "-f", "-L", &sz, &full]).map(drop);
        if origin {
            lvm("activate", &full, &["lvchange", "-ay", &full])?;
        }
        r
    }

    /// Sets the volume's size: the logical volume and its filesystem grow (online when
    /// mounted) or, for an unmounted ext4 volume, shrink (xfs cannot). `None` keeps the size:
    /// a block volume always has one.
    pub fn set_size(&self, vol: &VolumeInfo, size: Option<u64>) -> Result<()> {
        let lv = self.lv(vol)?;
        let Some(size) = size else {
            tracing::debug!(
                lv = self.full(&lv),
                "lvm: no size given, the volume keeps its size"
            );
            return Ok(());
        };
        let size = round_size("size", size)?;
        let report = self.inventory()?.require(&lv)?.clone();
        let extent = cmd::vg(self.vg())?
            .ok_or_else(|| LvmError::NotFound {
                what: "volume group",
                name: self.vg().to_string(),
            })?
            .extent_size;
        let (new_ext, old_ext) = (size.div_ceil(extent), report.size.div_ceil(extent));
        if new_ext == old_ext {
            return Ok(());
        }
        let dev = self.activate(&lv)?;
        let fs = Fs::detect(&dev)?;
        if new_ext > old_ext {
            let mp = vol.path(self.pool);
            if self.pc.thinpool.is_none() && report.attr.starts_with('o') && mounted(&mp)? {
                return Err(LvmError::InUse {
                    what: "volume",
                    name: self.full(&lv),
                    reason: format!(
                        "it is mounted at {} and has snapshots: LVM resizes a classic volume \
                         with snapshots only while it is inactive",
                        mp.display()
                    ),
                });
            }
            self.resize_lv(&lv, size, report.attr.starts_with('o'))?;
            let a = self.access(vol, &lv, false)?;
            fs.grow(&dev, a.path())?;
            a.release()?;
        } else {
            let mp = vol.path(self.pool);
            if mounted(&mp)? {
                return Err(LvmError::InUse {
                    what: "volume",
                    name: self.full(&lv),
                    reason: format!(
                        "it is mounted at {}; a filesystem shrinks only unmounted",
                        mp.display()
                    ),
                });
            }
            fs.shrink(&dev, size)?;
            self.resize_lv(&lv, size, report.attr.starts_with('o'))?;
        }
        tracing::debug!(lv = self.full(&lv), size, "lvm: volume resized");
        Ok(())
    }

    /// Bytes used by the volume's filesystem.
    pub fn usage(&self, vol: &VolumeInfo) -> Result<u64> {
        let lv = self.lv(vol)?;
        let a = self.access(vol, &lv, true)?;
        let used = used_bytes(a.path())?;
        a.release()?;
        Ok(used)
    }

    /// Mounts the volume at its path (idempotent) and returns the path.
    pub fn mount(&self, vol: &VolumeInfo) -> Result<PathBuf> {
        let lv = self.lv(vol)?;
        let mp = vol.path(self.pool);
        if mounted(&mp)? {
            return Ok(mp);
        }
        let report = self.inventory()?.require(&lv)?.clone();
        let dev = self.activate(&lv)?;
        let fs = Fs::detect(&dev)?;
        mount_point(&mp)?;
        fs.mount(
            &dev,
            &mp,
            &fs.options(&self.pc.mount_options, false),
            report.is_read_only(),
        )?;
        Ok(mp)
    }

    /// Unmounts the volume (idempotent). The logical volume stays active.
    pub fn unmount(&self, vol: &VolumeInfo) -> Result<()> {
        Ok(mounts::unmount_all(&vol.path(self.pool))?)
    }

    /// Mounts a snapshot read-only at its path and returns the path.
    pub fn mount_snapshot(&self, vol: &VolumeInfo, snapshot: &str) -> Result<PathBuf> {
        let snap = self.snap_lv(vol, snapshot)?;
        let mp = vol.snapshot_path(self.pool, snapshot);
        if mounted(&mp)? {
            return Ok(mp);
        }
        self.inventory()?.require(&snap)?;
        let dev = self.activate(&snap)?;
        let fs = Fs::detect(&dev)?;
        mount_point(&mp)?;
        fs.mount(&dev, &mp, &fs.options(&self.pc.mount_options, true), true)?;
        Ok(mp)
    }

    /// Unmounts a snapshot and deactivates it again.
    pub fn unmount_snapshot(&self, vol: &VolumeInfo, snapshot: &str) -> Result<()> {
        let snap = self.snap_lv(vol, snapshot)?;
        mounts::unmount_all(&vol.snapshot_path(self.pool, snapshot))?;
        if self.pc.thinpool.is_some() && self.dev(&snap).exists() {
            let full = self.full(&snap);
            lvm("deactivate", &full, &["lvchange", "-an", &full])?;
        }
        Ok(())
    }

    /// Names of the volumes of a type (snapshots and a restore's temporary volumes left out).
    pub fn list(&self, t: VolumeType) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .inventory()?
            .all()
            .iter()
            .filter(|l| !l.name.ends_with(RESTORE_SUFFIX) && !l.name.ends_with(OLD_SUFFIX))
            .filter_map(|l| parse_lv(t, &l.name))
            .filter(|p| p.snapshot.is_none())
            .map(|p| p.volume)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Finishes restores that were cut short (a crash between the steps of
    /// [`Volumes::restore`]): where the staged volume or the replaced one is left, the volume
    /// ends up as one whole logical volume under its name, the restored one when the swap had
    /// begun, and the leftovers go.
    pub fn finish_interrupted_restores(&self) -> Result<()> {
        let inv = self.inventory()?;
        let has = |n: &str| inv.get(n).is_some();
        for l in inv.all() {
            let (base, old, staging) = if let Some(b) = l.name.strip_suffix(OLD_SUFFIX) {
                (
                    b.to_string(),
                    l.name.clone(),
                    format!("{b}{RESTORE_SUFFIX}"),
                )
            } else if let Some(b) = l.name.strip_suffix(RESTORE_SUFFIX) {
                if has(&format!("{b}{OLD_SUFFIX}")) {
                    continue; // handled with the replaced volume
                }
                (b.to_string(), format!("{b}{OLD_SUFFIX}"), l.name.clone())
            } else {
                continue;
            };
            tracing::warn!(
                lv = self.full(&base),
                "lvm: finishing an interrupted restore"
            );
            let (mut staging_left, mut old_left) = (has(&staging), has(&old));
            if !has(&base) {
                // The volume was renamed away: the restored one (or else the old one) takes
                // its place.
                if staging_left {
                    self.rename_lv(&staging, &base)?;
                    staging_left = false;
                } else if old_left {
                    self.rename_lv(&old, &base)?;
                    old_left = false;
                }
            }
            if staging_left {
                self.remove_lv(&staging)?;
            }
            if old_left {
                self.remove_lv(&old)?;
            }
        }
        Ok(())
    }
}

/// Readies a new filesystem mounted at `root`: no `lost+found` (a volume starts empty), and a
/// container's `rootfs/`.
fn tidy_new_fs(root: &Path, t: VolumeType) -> Result<()> {
    let lf = root.join("lost+found");
    match std::fs::remove_dir(&lf) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io("remove", &lf, e).into()),
    }
    if t == VolumeType::Container {
        use std::os::unix::fs::DirBuilderExt;
        let r = root.join("rootfs");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&r)
            .map_err(|e| StorageError::io("create", &r, e))?;
    }
    Ok(())
}
