//! Queries of datasets and pools through the parsable output both CLIs have (`-H` for
//! tab-separated lines without headers, `zfs get -p` for exact numbers; zfs-fuse has no
//! `zfs list -p`, so numbers always come from `zfs get`).

use super::cmd::{is_missing, zfs, zpool};
use super::names::SNAPSHOT_PREFIX;
use crate::error::{Result, StorageError};

/// Whether a dataset or snapshot exists.
pub fn exists(dataset: &str) -> Result<bool> {
    match zfs(&["get", "-H", "-o", "value", "type", dataset]) {
        Ok(_) => Ok(true),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A property's value (`-p`: numbers in bytes).
pub fn get(dataset: &str, prop: &str) -> Result<String> {
    Ok(zfs(&["get", "-H", "-p", "-o", "value", prop, dataset])?
        .trim_end_matches('\n')
        .to_string())
}

/// A numeric property; `-`, `none` and empty are 0.
pub fn get_u64(dataset: &str, prop: &str) -> Result<u64> {
    let v = get(dataset, prop)?;
    match v.as_str() {
        "-" | "none" | "" => Ok(0),
        s => s.parse().map_err(|_| {
            StorageError::invalid(
                format!("zfs property {prop} of {dataset}"),
                s,
                "not a number",
            )
        }),
    }
}

/// Sets properties (`key=value`) on a dataset.
pub fn set(dataset: &str, props: &[&str]) -> Result<()> {
    for p in props {
        zfs(&["set", p, dataset])?;
    }
    Ok(())
}

/// The filesystems directly below `dataset`.
pub fn children(dataset: &str) -> Result<Vec<String>> {
    Ok(zfs(&[
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "filesystem",
        "-d",
        "1",
        dataset,
    ])?
    .lines()
    .filter(|l| *l != dataset && !l.is_empty())
    .map(str::to_string)
    .collect())
}

/// Every filesystem below `dataset` (not itself), parents first.
pub fn descendants(dataset: &str) -> Result<Vec<String>> {
    Ok(zfs(&[
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "filesystem",
        "-r",
        dataset,
    ])?
    .lines()
    .filter(|l| *l != dataset && !l.is_empty())
    .map(str::to_string)
    .collect())
}

/// The snapshots of `dataset` (the part after `@`), oldest first.
pub fn snapshots(dataset: &str) -> Result<Vec<String>> {
    let out = zfs(&[
        "list",
        "-H",
        "-o",
        "name,createtxg",
        "-t",
        "snapshot",
        "-d",
        "1",
        dataset,
    ])?;
    let mut v: Vec<(u64, String)> = out
        .lines()
        .filter_map(|l| {
            let (name, txg) = l.split_once('\t')?;
            let (_, snap) = name.split_once('@')?;
            Some((txg.trim().parse().unwrap_or(0), snap.to_string()))
        })
        .collect();
    v.sort_by_key(|(txg, _)| *txg);
    Ok(v.into_iter().map(|(_, s)| s).collect())
}

/// The user snapshots of `dataset` (names without `snapshot-`), oldest first.
pub fn user_snapshots(dataset: &str) -> Result<Vec<String>> {
    Ok(snapshots(dataset)?
        .into_iter()
        .filter_map(|s| s.strip_prefix(SNAPSHOT_PREFIX).map(str::to_string))
        .collect())
}

/// Every clone below `root` with its origin snapshot.
pub fn origins(root: &str) -> Result<Vec<(String, String)>> {
    Ok(zfs(&[
        "list",
        "-H",
        "-o",
        "name,origin",
        "-t",
        "filesystem",
        "-r",
        root,
    ])?
    .lines()
    .filter_map(|l| {
        let (name, origin) = l.split_once('\t')?;
        (origin != "-" && !origin.is_empty()).then(|| (name.to_string(), origin.to_string()))
    })
    .collect())
}

/// The clones of `target` below `root`: of that snapshot when `target` is `DATASET@SNAP`,
/// else of any snapshot of the dataset.
pub fn clones_of(root: &str, target: &str) -> Result<Vec<String>> {
    Ok(clones_in(&origins(root)?, target))
}

/// [`clones_of`] within a listing made by [`origins`].
pub fn clones_in(origins: &[(String, String)], target: &str) -> Vec<String> {
    origins
        .iter()
        .filter(|(_, origin)| {
            if target.contains('@') {
                origin == target
            } else {
                origin.split_once('@').map(|(d, _)| d) == Some(target)
            }
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether a zpool is imported.
pub fn zpool_imported(name: &str) -> Result<bool> {
    match zpool(&["list", "-H", "-o", "name"]) {
        Ok(out) => Ok(out.lines().any(|l| l == name)),
        Err(e) if super::cmd::stderr_of(&e).contains("no pools") => Ok(false),
        Err(e) => Err(e),
    }
}
