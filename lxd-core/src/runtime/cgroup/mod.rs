//! One cgroup per instance, in every mounted hierarchy, under a subtree the runtime owns;
//! limits, freezing, killing and usage on cgroup v1 and v2.

mod layout;
mod limits;

pub use layout::{CgroupLayout, Hierarchy, LayoutKind, Version};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::ResourceLimits;

/// A cgroup operation that failed, with the file or directory it failed on.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A read, write, mkdir or rmdir failed.
    #[error("cgroup {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The cgroup file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A limit cannot be applied on this host.
    #[error("cgroup limit {key}: {reason}")]
    Limit {
        /// The configuration key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// No cgroup hierarchy is mounted where this process looks (`/proc/self/mountinfo`).
    #[error("no cgroup hierarchy is mounted (is /sys/fs/cgroup hidden by another mount?)")]
    NoHierarchy,
    /// The cgroup did not reach the wanted state in time.
    #[error("cgroup {path}: {what} did not finish within {secs} s")]
    Timeout {
        /// The cgroup.
        path: PathBuf,
        /// freeze, thaw, kill or remove.
        what: &'static str,
        /// The time waited.
        secs: u64,
    },
}

/// Which freezer to use where both exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerChoice {
    /// The v1 freezer controller if mounted, else the v2 core freezer.
    #[default]
    Auto,
    /// The v2 core freezer (`cgroup.freeze`), even on a hybrid host.
    Unified,
}

/// The instance's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    /// The cgroup directory.
    pub path: PathBuf,
    /// v1 or v2.
    pub version: Version,
    /// Controllers handled here (v1: bound ones; v2: enabled for the instance).
    pub controllers: Vec<String>,
}

impl CgroupDir {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// An instance's cgroup across every hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// One directory per hierarchy.
    pub dirs: Vec<CgroupDir>,
    /// The freezer in use.
    pub freezer: FreezerChoice,
}

/// Controllers the runtime enables in the unified hierarchy when they are available there.
const V2_WANTED: &[&str] = &["cpuset", "cpu", "memory", "pids", "io"];

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(io_err("write", path))
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(io_err("read", path))
}

impl Cgroup {
    /// The directories an instance named `leaf` gets: in v1 hierarchies under the caller's own
    /// cgroup, in the unified hierarchy under its root (where the no-internal-processes rule
    /// does not stop enabling controllers), each inside `subtree`.
    pub fn plan(layout: &CgroupLayout, subtree: &str, leaf: &str, freezer: FreezerChoice) -> Self {
        let dirs = layout
            .hierarchies
            .iter()
            .map(|h| {
                let base = match h.version {
                    Version::V1 => h.mount.join(h.own_path.trim_start_matches('/')),
                    Version::V2 => h.mount.clone(),
                };
                let controllers = match h.version {
                    Version::V1 => h.controllers.clone(),
                    Version::V2 => h
                        .controllers
                        .iter()
                        .filter(|c| V2_WANTED.contains(&c.as_str()))
                        .filter(|c| {
                            layout
                                .controller(c)
                                .is_some_and(|o| o.version == Version::V2)
                        })
                        .cloned()
                        .collect(),
                };
                CgroupDir {
                    path: base.join(subtree).join(leaf),
                    version: h.version,
                    controllers,
                }
            })
            .collect();
        Cgroup { dirs, freezer }
    }

    /// Creates the directories (and the subtree above them), enabling the v2 controllers and
    /// seeding v1 cpusets. A stale, empty directory left by a crash is reused.
    pub fn create(&self) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            // Another instance's teardown may remove the empty subtree between our mkdirs.
            let mut tries = 0;
            loop {
                match Self::create_dir(dir) {
                    Err(CgroupError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound && tries < 5 =>
                    {
                        tries += 1;
                    }
                    r => break r?,
                }
            }
        }
        Ok(())
    }

    fn create_dir(dir: &CgroupDir) -> Result<(), CgroupError> {
        {
            let parent = dir.path.parent().expect("cgroup dirs have a parent");
            if !parent.exists() {
                std::fs::create_dir(parent).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(io_err("mkdir", parent)(e))
                    }
                })?;
                if dir.has("cpuset") && dir.version == Version::V1 {
                    seed_cpuset(parent)?;
                }
            }
            if dir.version == Version::V2 && !dir.controllers.is_empty() {
                let wanted: String = dir.controllers.iter().map(|c| format!("+{c} ")).collect();
                // Enable on the hierarchy root and on the subtree so the leaf gets them.
                let root = parent.parent().expect("subtree has a parent");
                write(&root.join("cgroup.subtree_control"), wanted.trim())?;
                write(&parent.join("cgroup.subtree_control"), wanted.trim())?;
            }
            match std::fs::create_dir(&dir.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if !read(&dir.path.join("cgroup.procs"))?.trim().is_empty() {
                        return Err(CgroupError::Io {
                            op: "create",
                            path: dir.path.clone(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::AlreadyExists,
                                "cgroup exists and has processes",
                            ),
                        });
                    }
                }
                Err(e) => return Err(io_err("mkdir", &dir.path)(e)),
            }
            if dir.has("cpuset") && dir.version == Version::V1 {
                seed_cpuset(&dir.path)?;
            }
        }
        Ok(())
    }

    /// Moves a process into the instance's cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write(&dir.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies `limits.*`.
    pub fn apply_limits(&self, limits: &ResourceLimits) -> Result<(), CgroupError> {
        limits::apply(self, limits)
    }

    fn find(&self, controller: &str) -> Option<&CgroupDir> {
        self.dirs.iter().find(|d| d.has(controller))
    }

    fn unified(&self) -> Option<&CgroupDir> {
        self.dirs.iter().find(|d| d.version == Version::V2)
    }

    /// Any directory listing the instance's processes (v2 when present).
    fn procs_dir(&self) -> &CgroupDir {
        self.unified().unwrap_or(&self.dirs[0])
    }

    /// Pids of the instance's processes (host view).
    pub fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        let p = self.procs_dir().path.join("cgroup.procs");
        Ok(read(&p)?
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect())
    }

    fn freezer_dir(&self) -> Option<(&CgroupDir, Version)> {
        match self.freezer {
            FreezerChoice::Unified => self.unified().map(|d| (d, Version::V2)),
            FreezerChoice::Auto => self
                .dirs
                .iter()
                .find(|d| d.version == Version::V1 && d.has("freezer"))
                .map(|d| (d, Version::V1))
                .or_else(|| self.unified().map(|d| (d, Version::V2))),
        }
    }

    /// Freezes (`true`) or thaws (`false`) every process and waits until the kernel reports it.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let (dir, version) = self.freezer_dir().ok_or_else(|| CgroupError::Limit {
            key: "freezer",
            reason: "no freezer controller and no cgroup v2 hierarchy".into(),
        })?;
        match version {
            Version::V1 => write(
                &dir.path.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            )?,
            Version::V2 => write(
                &dir.path.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
            )?,
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut pause = Duration::from_micros(200);
        while self.is_frozen()? != frozen {
            if Instant::now() > deadline {
                return Err(CgroupError::Timeout {
                    path: dir.path.clone(),
                    what: if frozen { "freeze" } else { "thaw" },
                    secs: 10,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Whether the instance is frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        let Some((dir, version)) = self.freezer_dir() else {
            return Ok(false);
        };
        Ok(match version {
            Version::V1 => read(&dir.path.join("freezer.state"))?.trim() == "FROZEN",
            Version::V2 => read(&dir.path.join("cgroup.events"))?
                .lines()
                .any(|l| l.trim() == "frozen 1"),
        })
    }

    /// Kills every process of the instance and waits until none is left.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let kill_file = self
            .unified()
            .map(|d| d.path.join("cgroup.kill"))
            .filter(|p| p.exists());
        loop {
            let pids = self.processes()?;
            if pids.is_empty() {
                break;
            }
            if let Some(kill) = &kill_file {
                write(kill, "1")?;
            } else {
                for pid in pids {
                    // SAFETY: kill(2) has no memory effects; a vanished pid only yields ESRCH.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            // Frozen tasks only die once thawed.
            if self.is_frozen()? {
                self.set_frozen(false)?;
            }
            if Instant::now() > deadline {
                return Err(CgroupError::Timeout {
                    path: self.procs_dir().path.clone(),
                    what: "kill",
                    secs: 10,
                });
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok(())
    }

    /// Removes the directories (the instance must have no processes left), and the runtime's
    /// subtree when no other instance is left in it.
    pub fn remove(&self) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match std::fs::remove_dir(&dir.path) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(io_err("rmdir", &dir.path)(e)),
                }
            }
            // Fails while other instances live in the subtree, which is what we want.
            if let Some(parent) = dir.path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        Ok(())
    }

    /// Memory in use, in bytes.
    pub fn memory_usage(&self) -> Option<u64> {
        let d = self.find("memory")?;
        let file = match d.version {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        };
        read(&d.path.join(file)).ok()?.trim().parse().ok()
    }

    /// Highest memory use, in bytes.
    pub fn memory_peak(&self) -> Option<u64> {
        let d = self.find("memory")?;
        let file = match d.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        read(&d.path.join(file)).ok()?.trim().parse().ok()
    }

    /// CPU time used, in nanoseconds.
    pub fn cpu_usage_ns(&self) -> Option<u64> {
        if let Some(d) = self.find("cpuacct").filter(|d| d.version == Version::V1) {
            return read(&d.path.join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse()
                .ok();
        }
        let d = self.unified()?;
        read(&d.path.join("cpu.stat"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|us| us * 1000)
    }

    /// The number of processes (`pids.current` when available).
    pub fn process_count(&self) -> Option<u64> {
        if let Some(d) = self.find("pids") {
            if let Some(n) = read(&d.path.join("pids.current"))
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                return Some(n);
            }
        }
        self.processes().ok().map(|p| p.len() as u64)
    }

    /// The directory that holds a controller, for inspection.
    pub fn controller_path(&self, controller: &str) -> Option<&Path> {
        self.find(controller).map(|d| d.path.as_path())
    }
}

/// A new v1 cpuset starts empty: copy the parent's cpus and mems, and let children inherit.
fn seed_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let parent = dir.parent().expect("cgroup dirs have a parent");
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let cur = read(&dir.join(f))?;
        if cur.trim().is_empty() {
            write(&dir.join(f), read(&parent.join(f))?.trim())?;
        }
    }
    write(&dir.join("cgroup.clone_children"), "1")
}
