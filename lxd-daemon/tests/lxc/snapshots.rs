//! Renaming instance snapshots, new instances from a snapshot, and copies of custom volumes,
//! with the real `lxc` client: `lxc rename c1/snap0 c1/snap1`, `lxc copy c1/snap1 c2`,
//! `lxc storage volume copy POOL/VOL POOL/VOL2`, on dir, btrfs and zfs pools.

use std::path::{Path, PathBuf};

use lxd_storage::zfs::FuseDaemon;

use crate::check;
use crate::fixture::{sh, Daemon};
use crate::TestResult;

/// Runs a shell script in an instance and returns its trimmed output.
fn exec(d: &Daemon, name: &str, script: &str) -> String {
    d.ok(&["exec", name, "--", "sh", "-c", script])
        .trim()
        .to_string()
}

/// The names of an instance's snapshots, from the API.
fn snapshots(d: &Daemon, name: &str) -> Result<Vec<String>, String> {
    let out = d.ok(&["query", &format!("/1.0/instances/{name}/snapshots")]);
    let urls: Vec<String> = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    Ok(urls
        .iter()
        .filter_map(|u| u.rsplit('/').next().map(str::to_string))
        .collect())
}

/// The names of a pool's volumes (`c1`, `c1/snap1`, ...) of a type, from `lxc storage volume
/// list`.
fn volumes(d: &Daemon, pool: &str, t: &str) -> Vec<String> {
    d.ok(&["storage", "volume", "list", pool, "-f", "csv"])
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let ty = f.next()?;
            let name = f.next()?;
            (ty == t || ty == format!("{t} (snapshot)")).then(|| name.to_string())
        })
        .collect()
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// Where the pool's files are, for pools with LXD's directory layout (dir, btrfs).
fn pool_dir(d: &Daemon, pool: &str) -> PathBuf {
    d.dir.join("storage-pools").join(pool)
}

/// How a pool keeps snapshots, for the checks on the host.
#[derive(Clone, Copy)]
enum Backing<'a> {
    /// Directories or subvolumes under `containers-snapshots/` (dir, btrfs).
    Dirs,
    /// zfs snapshots of the datasets of this zpool; copies are clones of the snapshot
    /// (`zfs.clone_copy=true`, the default) or full copies.
    Zfs(&'a str, bool),
}

/// The zfs snapshots of a dataset (`snapshot-snap1`, ...).
fn zfs_snapshots(dataset: &str) -> Vec<String> {
    sh(&format!("zfs list -H -t snapshot -o name -r {dataset}"))
        .stdout
        .lines()
        .filter_map(|l| l.split_once('@').map(|(_, s)| s.to_string()))
        .collect()
}

/// The whole story on one pool: rename a snapshot, refuse a taken or invalid name without
/// losing anything, make instances from snapshots (their content and configuration, not the
/// current ones), and restore from the renamed snapshot; checked through `lxc` and on the host.
fn rename_and_copy_on(d: &Daemon, pool: &str, backing: Backing<'_>) -> TestResult {
    let layout = matches!(backing, Backing::Dirs);
    d.ok(&["launch", "busybox", "c1", "-s", pool]);
    d.ok(&["config", "set", "c1", "user.tag", "old"]);
    exec(d, "c1", "echo one > /root/f");
    d.ok(&["snapshot", "c1", "snap0"]);
    exec(d, "c1", "echo two > /root/f");
    d.ok(&["config", "set", "c1", "user.tag", "new"]);

    // The rename: the API, the volume list and the files all follow.
    d.ok(&["rename", "c1/snap0", "c1/snap1"]);
    let s = snapshots(d, "c1")?;
    check!(s == ["snap1"], "snapshots after the rename: {s:?}");
    let vols = volumes(d, pool, "container");
    check!(
        vols.contains(&"c1/snap1".to_string()) && !vols.contains(&"c1/snap0".to_string()),
        "volume list after the rename: {vols:?}"
    );
    let snap_dir = pool_dir(d, pool).join("containers-snapshots/c1");
    if layout {
        check!(
            read(&snap_dir.join("snap1/rootfs/root/f"))? == "one",
            "renamed snapshot's files"
        );
        check!(!snap_dir.join("snap0").exists(), "snap0 left on disk");
    }
    if let Backing::Zfs(zpool, _) = backing {
        let z = zfs_snapshots(&format!("{zpool}/containers/c1"));
        check!(
            z.contains(&"snapshot-snap1".to_string()) && !z.contains(&"snapshot-snap0".to_string()),
            "zfs snapshots after the rename: {z:?}"
        );
    }
    let info = d.ok(&["info", "c1"]);
    check!(
        info.contains("| snap1 ") && !info.contains("snap0"),
        "lxc info: {info}"
    );

    // A taken name is refused as LXD does, and nothing is lost or renamed.
    d.ok(&["snapshot", "c1", "snap2"]);
    let out = d.lxc(&["rename", "c1/snap2", "c1/snap1"]);
    check!(
        out.code != 0 && out.stderr.contains("Name 'c1/snap1' already in use"),
        "rename onto a taken name: {out:?}"
    );
    let out = d.lxc(&[
        "query",
        "-X",
        "POST",
        "/1.0/instances/c1/snapshots/snap2",
        "--data",
        r#"{"name":"bad+name"}"#,
    ]);
    check!(
        out.code != 0 && out.stderr.contains("Invalid snapshot name \"bad+name\""),
        "rename to an invalid name: {out:?}"
    );
    let out = d.lxc(&["rename", "c1/nosuch", "c1/other"]);
    check!(
        out.code != 0 && out.stderr.contains("not found"),
        "rename of a missing snapshot: {out:?}"
    );
    let s = snapshots(d, "c1")?;
    check!(
        s == ["snap1", "snap2"],
        "snapshots after the refusals: {s:?}"
    );
    if layout {
        check!(
            read(&snap_dir.join("snap1/rootfs/root/f"))? == "one"
                && read(&snap_dir.join("snap2/rootfs/root/f"))? == "two",
            "snapshot files after the refusals"
        );
    }

    // A new instance from the renamed snapshot: its files and configuration, no snapshots.
    d.ok(&["copy", "c1/snap1", "c2"]);
    check!(snapshots(d, "c2")?.is_empty(), "the copy has snapshots");
    if let Backing::Zfs(zpool, clones) = backing {
        // With zfs.clone_copy (the default) the copy is a clone of the snapshot.
        let origin = sh(&format!("zfs get -H -o value origin {zpool}/containers/c2"));
        let want = if clones {
            format!("{zpool}/containers/c1@snapshot-snap1")
        } else {
            "-".to_string()
        };
        check!(origin.stdout.trim() == want, "c2's origin: {origin:?}");
        let z = zfs_snapshots(&format!("{zpool}/containers/c2"));
        check!(z.is_empty(), "the copy's dataset has snapshots: {z:?}");
    }
    check!(
        d.ok(&["config", "get", "c2", "user.tag"]).trim() == "old",
        "the copy's configuration is not the snapshot's"
    );
    let show = d.ok(&["config", "show", "c2", "--expanded"]);
    check!(show.contains(&format!("pool: {pool}")), "c2's pool: {show}");
    check!(
        d.ok(&["file", "pull", "c2/root/f", "-"]).trim() == "one",
        "the stopped copy's file"
    );
    d.ok(&["start", "c2"]);
    check!(exec(d, "c2", "cat /root/f") == "one", "copy content");
    check!(exec(d, "c2", "hostname") == "c2", "copy template");
    check!(exec(d, "c1", "cat /root/f") == "two", "the source changed");
    // The other snapshot kept its content through the refused rename.
    d.ok(&["copy", "c1/snap2", "c3"]);
    check!(
        d.ok(&["file", "pull", "c3/root/f", "-"]).trim() == "two",
        "copy of snap2"
    );
    let out = d.lxc(&["copy", "c1/snap1", "c3"]);
    check!(out.code != 0, "copy onto an existing instance: {out:?}");
    let out = d.lxc(&["copy", "c1/nosuch", "c4"]);
    check!(
        out.code != 0 && out.stderr.contains("not found"),
        "copy of a missing snapshot: {out:?}"
    );
    let list = d.ok(&["list", "-f", "csv", "-c", "n"]);
    check!(!list.contains("c4"), "failed copy left an instance: {list}");
    check!(
        !volumes(d, pool, "container").contains(&"c4".to_string()),
        "failed copy left a volume"
    );

    // Restore from the renamed snapshot: files and configuration come back.
    exec(d, "c1", "echo three > /root/f");
    d.ok(&["delete", "-f", "c3"]);
    d.ok(&["delete", "c1/snap2"]);
    d.ok(&["restore", "c1", "snap1"]);
    check!(exec(d, "c1", "cat /root/f") == "one", "restore from snap1");
    check!(
        d.ok(&["config", "get", "c1", "user.tag"]).trim() == "old",
        "restored configuration"
    );

    // The copy is independent: it outlives its source.
    exec(d, "c2", "echo changed > /root/f");
    check!(
        exec(d, "c1", "cat /root/f") == "one",
        "copy not independent"
    );
    d.ok(&["delete", "-f", "c1"]);
    check!(
        exec(d, "c2", "cat /root/f") == "changed",
        "copy after delete"
    );
    d.ok(&["delete", "-f", "c2"]);
    let left = volumes(d, pool, "container");
    check!(left.is_empty(), "volumes left: {left:?}");
    if layout {
        check!(!snap_dir.exists(), "snapshot files left");
    }
    Ok(())
}

pub fn rename_and_copy_from_snapshot_dir() -> TestResult {
    let d = Daemon::start("snapdir");
    rename_and_copy_on(&d, "default", Backing::Dirs)
}

pub fn rename_and_copy_from_snapshot_btrfs() -> TestResult {
    let d = Daemon::start("snapbt");
    d.ok(&["storage", "create", "bt", "btrfs", "size=1GiB"]);
    rename_and_copy_on(&d, "bt", Backing::Dirs)
}

/// Destroys the test's zpool should the daemon have left it (only that name, which is unique
/// to the test).
struct ZpoolGuard(String);

impl Drop for ZpoolGuard {
    fn drop(&mut self) {
        let out = sh(&format!("zpool list -H -o name {}", self.0));
        if out.code == 0 {
            let _ = sh(&format!("zpool destroy -f {}", self.0));
        }
    }
}

fn rename_and_copy_on_zfs(tag: &str, clones: bool) -> TestResult {
    // Dropped last: the zfs-fuse daemon (when the kernel has no ZFS), then the zpool.
    let _zfs = FuseDaemon::ensure().map_err(|e| format!("zfs: {e}"))?;
    let zpool = ZpoolGuard(format!("lxdt{}{tag}", std::process::id()));
    let d = Daemon::start(tag);
    d.ok(&[
        "storage",
        "create",
        "zp",
        "zfs",
        "size=1GiB",
        &format!("zfs.pool_name={}", zpool.0),
        &format!("zfs.clone_copy={clones}"),
    ]);
    rename_and_copy_on(&d, "zp", Backing::Zfs(&zpool.0, clones))
}

pub fn rename_and_copy_from_snapshot_zfs() -> TestResult {
    rename_and_copy_on_zfs("snapzfs", true)
}

pub fn rename_and_copy_from_snapshot_zfs_full_copies() -> TestResult {
    rename_and_copy_on_zfs("snapzfsfull", false)
}

/// `lxc storage volume copy` on the same pool, on dir and btrfs: the copy has the files,
/// is independent, can be attached; taken names, missing sources and other pools are refused.
pub fn custom_volume_copy() -> TestResult {
    let d = Daemon::start("volcopy");
    d.ok(&["storage", "create", "bt", "btrfs", "size=1GiB"]);
    for pool in ["default", "bt"] {
        d.ok(&["storage", "volume", "create", pool, "v1"]);
        let custom = pool_dir(&d, pool).join("custom");
        std::fs::write(custom.join("v1/hello"), "data\n").map_err(|e| e.to_string())?;
        std::fs::create_dir(custom.join("v1/sub")).map_err(|e| e.to_string())?;
        std::fs::write(custom.join("v1/sub/deep"), "deeper\n").map_err(|e| e.to_string())?;
        d.ok(&[
            "storage",
            "volume",
            "copy",
            &format!("{pool}/v1"),
            &format!("{pool}/v2"),
        ]);
        let vols = volumes(&d, pool, "custom");
        check!(
            vols.contains(&"v1".to_string()) && vols.contains(&"v2".to_string()),
            "{pool}: volumes after the copy: {vols:?}"
        );
        check!(
            read(&custom.join("v2/hello"))? == "data"
                && read(&custom.join("v2/sub/deep"))? == "deeper",
            "{pool}: the copy's files"
        );
        // Independent: a change to the copy leaves the source alone.
        std::fs::write(custom.join("v2/hello"), "changed\n").map_err(|e| e.to_string())?;
        check!(
            read(&custom.join("v1/hello"))? == "data",
            "{pool}: the source changed"
        );
        let out = d.lxc(&[
            "storage",
            "volume",
            "copy",
            &format!("{pool}/v1"),
            &format!("{pool}/v2"),
        ]);
        check!(
            out.code != 0 && out.stderr.contains("already exists"),
            "{pool}: copy onto a taken name: {out:?}"
        );
        check!(
            read(&custom.join("v2/hello"))? == "changed",
            "{pool}: the refused copy touched the target"
        );
        let out = d.lxc(&[
            "storage",
            "volume",
            "copy",
            &format!("{pool}/nosuch"),
            &format!("{pool}/v3"),
        ]);
        check!(
            out.code != 0 && out.stderr.contains("not found"),
            "{pool}: copy of a missing volume: {out:?}"
        );
        check!(
            !volumes(&d, pool, "custom").contains(&"v3".to_string()) && !custom.join("v3").exists(),
            "{pool}: the failed copy left v3"
        );
    }
    // Another pool: refused with the reason, nothing made.
    let out = d.lxc(&["storage", "volume", "copy", "default/v1", "bt/v9"]);
    check!(
        out.code != 0
            && out
                .stderr
                .contains("to storage pool \"bt\" is not supported"),
        "copy to another pool: {out:?}"
    );
    check!(
        !volumes(&d, "bt", "custom").contains(&"v9".to_string()),
        "the refused copy left a volume"
    );

    // The copy is usable as a disk device.
    d.ok(&["launch", "busybox", "c1"]);
    d.ok(&[
        "storage", "volume", "attach", "default", "v2", "c1", "/mnt/v2",
    ]);
    check!(
        exec(&d, "c1", "cat /mnt/v2/hello; cat /mnt/v2/sub/deep") == "changed\ndeeper",
        "attached copy"
    );
    d.ok(&["storage", "volume", "detach", "default", "v2", "c1"]);
    d.ok(&["delete", "-f", "c1"]);
    for pool in ["default", "bt"] {
        for v in ["v1", "v2"] {
            d.ok(&["storage", "volume", "delete", pool, v]);
        }
        let left = volumes(&d, pool, "custom");
        check!(left.is_empty(), "{pool}: volumes left: {left:?}");
    }
    Ok(())
}
