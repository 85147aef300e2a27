//! Starting the zfs-fuse daemon where the host has no ZFS kernel module, for tests and
//! benchmarks (a real system runs it as a service). zfs-fuse allows one daemon per host (its
//! socket is `/var/run/zfs/zfs_socket`), so the users of the daemon this module starts share
//! it: each holds a shared lock on `/run/lxd-rs-zfs-fuse/lock`, and the last one to let go
//! stops the daemon if no pool is left on it. A daemon started some other way is used and
//! never stopped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::probe::in_path;
use crate::error::{Result, StorageError};

const DIR: &str = "/run/lxd-rs-zfs-fuse";
/// How long the daemon may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A use of the zfs-fuse daemon (or of the kernel's ZFS, when it has one), held for as long as
/// pools are made on it.
#[derive(Debug)]
pub struct FuseDaemon {
    lock: Option<Flock<File>>,
    started: bool,
}

fn pid_file() -> PathBuf {
    Path::new(DIR).join("zfs-fuse.pid")
}

fn answers() -> bool {
    std::process::Command::new("zpool")
        .args(["list", "-H", "-o", "name"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn pools_left() -> bool {
    std::process::Command::new("zpool")
        .args(["list", "-H", "-o", "name"])
        .output()
        .map(|o| !o.status.success() || !o.stdout.is_empty())
        .unwrap_or(true)
}

fn lock(flag: FlockArg) -> Result<Flock<File>> {
    std::fs::create_dir_all(DIR).map_err(|e| StorageError::io("create", DIR, e))?;
    let path = Path::new(DIR).join("lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StorageError::io("open", &path, e))?;
    Flock::lock(f, flag).map_err(|(_, e)| StorageError::sys("flock", &path, e))
}

/// The pid in our pid file, if that process is a live zfs-fuse.
fn our_daemon() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    (comm.trim() == "zfs-fuse" && state != "Z").then_some(pid)
}

impl FuseDaemon {
    /// Makes sure ZFS answers: with the kernel module nothing is done; otherwise a zfs-fuse
    /// daemon is started (with xattrs on, as container root filesystems need) unless one runs.
    pub fn ensure() -> Result<FuseDaemon> {
        if Path::new("/sys/module/zfs").exists() {
            return Ok(FuseDaemon {
                lock: None,
                started: false,
            });
        }
        let lock = lock(FlockArg::LockExclusive)?;
        let mut started = false;
        if !answers() {
            for tool in ["zfs-fuse", "zpool", "zfs"] {
                if !in_path(tool) {
                    return Err(StorageError::Unsupported {
                        what: "zfs-fuse".into(),
                        reason: format!("`{tool}` is not installed (Debian package zfs-fuse)"),
                    });
                }
            }
            if !Path::new("/dev/fuse").exists() {
                return Err(StorageError::not_found(
                    "FUSE device",
                    Path::new("/dev/fuse"),
                ));
            }
            let pid = pid_file();
            let status = std::process::Command::new("zfs-fuse")
                .args(["--no-kstat-mount", "-x", "-p"])
                .arg(&pid)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(|e| StorageError::io("run", "zfs-fuse", e))?;
            if !status.success() {
                return Err(StorageError::Unsupported {
                    what: "zfs-fuse".into(),
                    reason: format!("the daemon did not start ({status})"),
                });
            }
            let t = Instant::now();
            while !answers() {
                if t.elapsed() > START_TIMEOUT {
                    return Err(StorageError::Unsupported {
                        what: "zfs-fuse".into(),
                        reason: format!("the daemon did not answer within {START_TIMEOUT:?}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            started = true;
            tracing::info!(
                ms = t.elapsed().as_millis() as u64,
                "zfs-fuse daemon started"
            );
        }
        lock.relock(FlockArg::LockShared)
            .map_err(|e| StorageError::sys("flock", DIR, e))?;
        Ok(FuseDaemon {
            lock: Some(lock),
            started,
        })
    }

    /// Whether this call started the daemon.
    pub fn started(&self) -> bool {
        self.started
    }
}

impl Drop for FuseDaemon {
    fn drop(&mut self) {
        let Some(lock) = self.lock.take() else {
            return;
        };
        let Ok(file) = lock.unlock() else {
            return;
        };
        drop(file);
        // The last user (no shared lock left) stops the daemon this module started, if it
        // holds no pool.
        let Ok(last) = lock_nonblocking() else {
            return;
        };
        if let Some(pid) = our_daemon() {
            if !pools_left() {
                let pid = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let t = Instant::now();
                while our_daemon().is_some() && t.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if our_daemon().is_some() {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                }
                let _ = std::fs::remove_file(pid_file());
                tracing::info!("zfs-fuse daemon stopped");
            }
        }
        drop(last);
    }
}

fn lock_nonblocking() -> Result<Flock<File>> {
    lock(FlockArg::LockExclusiveNonblock)
}
