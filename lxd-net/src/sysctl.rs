//! Kernel settings under `/proc/sys` that networks change, and their restoration.
//!
//! Settings of interfaces a network owns (its bridge and tunnel) are set directly: they go
//! away with the interface. Settings of interfaces it does not own (the uplinks that carry its
//! NAT traffic) are recorded in a ledger, `STATE_DIR/sysctl.json`, with the value found before
//! the first change, and restored when the network stops. Several networks may need the same
//! setting: a network that finds another network's ledger holding a path records that
//! network's original value, and the value is restored only when the last network holding it
//! stops. The ledgers of all networks are the `sysctl.json` files of the sibling state
//! directories (`$LXD_DIR/networks/*`), so the bookkeeping survives a daemon restart.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens it, so these files
//! are read and written from the calling thread.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// One changed setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path under `/proc/sys` (`net/ipv4/conf/eth0/forwarding`).
    pub path: String,
    /// The value found before any network changed it.
    pub original: String,
    /// The value the network needs.
    pub value: String,
}

/// Serialises ledger reads and writes of this process.
static LEDGER_LOCK: Mutex<()> = Mutex::new(());

const LEDGER: &str = "sysctl.json";

fn full(path: &str) -> PathBuf {
    Path::new("/proc/sys").join(path)
}

/// Reads a setting; `None` when it does not exist (the interface is gone).
pub fn read(path: &str) -> Result<Option<String>> {
    match std::fs::read_to_string(full(path)) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io("read", full(path), e)),
    }
}

/// Writes a setting.
pub fn write(path: &str, value: &str) -> Result<()> {
    std::fs::write(full(path), format!("{value}\n"))
        .map_err(|e| NetError::io("write", full(path), e))
}

fn load(file: &Path) -> Result<Vec<Entry>> {
    match std::fs::read(file) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            NetError::io(
                "parse",
                file,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(NetError::io("read", file, e)),
    }
}

fn save(file: &Path, entries: &[Entry]) -> Result<()> {
    if entries.is_empty() {
        return match std::fs::remove_file(file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io("remove", file, e)),
        };
    }
    let tmp = file.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(entries)
        .map_err(|e| NetError::io("encode", file, std::io::Error::other(e)))?;
    std::fs::write(&tmp, body).map_err(|e| NetError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, file).map_err(|e| NetError::io("rename", file, e))
}

/// The entries of the other networks' ledgers (sibling state directories).
fn siblings(state_dir: &Path) -> Vec<Entry> {
    let Some(parent) = state_dir.parent() else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in rd.flatten() {
        let p = d.path();
        if p == state_dir {
            continue;
        }
        if let Ok(v) = load(&p.join(LEDGER)) {
            out.extend(v);
        }
    }
    out
}

/// Brings the network's recorded settings to `wanted` (`(path, value)` pairs): settings no
/// longer wanted are released, new ones recorded and set.
pub fn apply(state_dir: &Path, wanted: &[(String, String)]) -> Result<()> {
    let _g = LEDGER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let file = state_dir.join(LEDGER);
    let mut mine = load(&file)?;
    let others = siblings(state_dir);

    // Release what is no longer wanted.
    let (keep, drop): (Vec<Entry>, Vec<Entry>) = mine
        .drain(..)
        .partition(|e| wanted.iter().any(|(p, _)| *p == e.path));
    for e in &drop {
        restore(e, &others)?;
    }
    mine = keep;
    save(&file, &mine)?;

    for (path, value) in wanted {
        let current = read(path)?.ok_or_else(|| {
            NetError::not_found("kernel setting", full(path).display().to_string())
        })?;
        match mine.iter_mut().find(|e| e.path == *path) {
            Some(e) => e.value = value.clone(),
            None => {
                let original = others
                    .iter()
                    .find(|o| o.path == *path)
                    .map(|o| o.original.clone())
                    .unwrap_or_else(|| current.clone());
                mine.push(Entry {
                    path: path.clone(),
                    original,
                    value: value.clone(),
                });
            }
        }
        // Record before changing, so a crash in between leaves the original known.
        save(&file, &mine)?;
        if current != *value {
            tracing::debug!(path = %path, from = %current, to = %value, "sysctl");
            write(path, value)?;
        }
    }
    Ok(())
}

fn restore(e: &Entry, others: &[Entry]) -> Result<()> {
    if others.iter().any(|o| o.path == e.path) {
        tracing::debug!(path = %e.path, "sysctl still needed by another network");
        return Ok(());
    }
    match read(&e.path)? {
        None => Ok(()),
        Some(cur) if cur == e.original => Ok(()),
        Some(_) => {
            tracing::debug!(path = %e.path, to = %e.original, "sysctl restored");
            write(&e.path, &e.original)
        }
    }
}

/// Restores every setting the network recorded (unless another network still needs it) and
/// removes its ledger.
pub fn release_all(state_dir: &Path) -> Result<()> {
    apply(state_dir, &[])
}

/// The settings a network has recorded.
pub fn recorded(state_dir: &Path) -> Result<Vec<Entry>> {
    load(&state_dir.join(LEDGER))
}
