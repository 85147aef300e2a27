//! Test fixture: a private data directory, busybox rootfs and cgroup subtree per test, torn
//! down (containers force-stopped, files and cgroups removed) even when the test fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lxd_core::image::busybox;
use lxd_core::runtime::cgroup::FreezerChoice;
use lxd_core::runtime::spec::IdmapMode;
use lxd_core::{Container, InstanceConfig, Runtime, RuntimeConfig};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The cgroup subtree of this test process, so tests never touch other cgroups.
pub fn subtree() -> String {
    format!("lxd-test-{}", std::process::id())
}

pub struct Env {
    pub dir: PathBuf,
    pub rt: Runtime,
    containers: Vec<Container>,
}

pub fn runtime_config(dir: &Path) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::new(dir);
    cfg.cgroup_subtree = subtree();
    cfg
}

impl Env {
    pub fn new(tag: &str) -> Env {
        Self::with(tag, |_| {})
    }

    pub fn with(tag: &str, tweak: impl FnOnce(&mut RuntimeConfig)) -> Env {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/lxd-rt-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = runtime_config(&dir);
        tweak(&mut cfg);
        let rt = Runtime::new(cfg).expect("runtime");
        Env {
            dir,
            rt,
            containers: Vec::new(),
        }
    }

    /// A fresh busybox rootfs.
    pub fn rootfs(&self, name: &str) -> PathBuf {
        let root = self.dir.join("roots").join(name);
        busybox::build_rootfs(&root, busybox::HOST_BUSYBOX.as_ref()).expect("busybox rootfs");
        root
    }

    /// A container on a fresh busybox rootfs, stopped and deleted when the test ends.
    pub fn container(&mut self, name: &str, config: &[(&str, &str)]) -> Container {
        let root = self.rootfs(name);
        self.container_on(name, root, config)
    }

    pub fn container_on(
        &mut self,
        name: &str,
        root: PathBuf,
        config: &[(&str, &str)],
    ) -> Container {
        let cfg = InstanceConfig::from_pairs(config.iter().copied()).expect("config");
        let c = self.rt.container(name, root, cfg).expect("container");
        self.containers.push(c.clone());
        c
    }

    pub fn unified_freezer(tag: &str) -> Env {
        Self::with(tag, |c| c.freezer = FreezerChoice::Unified)
    }

    pub fn shifting(tag: &str) -> Env {
        Self::with(tag, |c| c.idmap_mode = IdmapMode::Shift)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = c.stop_blocking();
            let _ = c.delete_blocking();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes this process's cgroup subtree in every hierarchy (called once, at the end).
pub fn remove_subtree() {
    let Ok(layout) = lxd_core::runtime::cgroup::CgroupLayout::detect() else {
        return;
    };
    let plan =
        lxd_core::runtime::cgroup::Cgroup::plan(&layout, &subtree(), "x", FreezerChoice::Auto);
    for d in plan.dirs {
        if let Some(parent) = d.path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// The `Uid:` line of a host process: real, effective, saved, fs.
pub fn host_uids(pid: i32) -> Vec<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The mount points of the host that mention `needle`.
pub fn host_mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Runs a shell script in the container and collects its output.
pub fn sh(c: &Container, script: &str) -> anyhow::Result<lxd_core::ExecOutput> {
    use lxd_core::Instance;
    Ok(crate::block(c.exec_output(&["sh", "-c", script]))?)
}

/// The bounding capability set of a process inside the container (`self` or a pid).
pub fn cap_bounding(c: &Container, pid: &str) -> anyhow::Result<u64> {
    let out = sh(c, &format!("grep CapBnd /proc/{pid}/status"))?;
    let hex = out
        .stdout_str()
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    Ok(u64::from_str_radix(&hex, 16)?)
}

/// The first host id containers are mapped to on this machine (root's `/etc/subuid` range, or
/// LXD's default 1000000).
pub fn host_base() -> u64 {
    lxd_core::runtime::idmap::HostIdRange::from_system().base
}
