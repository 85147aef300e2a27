//! Finding the cgroup hierarchies at run time: cgroup v1 controllers, the unified v2
//! hierarchy, or both (the hybrid layout).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CgroupError;

/// The cgroup version of a hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// A cgroup v1 hierarchy with its own controllers.
    V1,
    /// The unified cgroup v2 hierarchy.
    V2,
}

/// Which hierarchies a host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// Only cgroup v1.
    Legacy,
    /// cgroup v1 controllers and a cgroup v2 mount.
    Hybrid,
    /// Only cgroup v2.
    Unified,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// v1 or v2.
    pub version: Version,
    /// For v1, the controllers bound to it (and `name=...` for named hierarchies); for v2,
    /// the controllers available in it (`cgroup.controllers` of its root).
    pub controllers: Vec<String>,
    /// The cgroup of the detecting process in this hierarchy (from `/proc/self/cgroup`).
    pub own_path: String,
}

/// The hierarchies of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    /// Every mounted hierarchy, v1 ones first.
    pub hierarchies: Vec<Hierarchy>,
}

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

impl CgroupLayout {
    /// Reads the mounted hierarchies from `/proc/self/mountinfo` and this process's cgroups
    /// from `/proc/self/cgroup`.
    pub fn detect() -> Result<Self, CgroupError> {
        let mountinfo = read("/proc/self/mountinfo")?;
        let own = read("/proc/self/cgroup")?;
        let layout = Self::parse(&mountinfo, &own, |p| {
            std::fs::read_to_string(p.join("cgroup.controllers")).unwrap_or_default()
        });
        if layout.hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy);
        }
        Ok(layout)
    }

    /// Builds the layout from the text of mountinfo and `/proc/self/cgroup`;
    /// `v2_controllers` reads a v2 mount's `cgroup.controllers`.
    pub fn parse(
        mountinfo: &str,
        own_cgroups: &str,
        v2_controllers: impl Fn(&Path) -> String,
    ) -> Self {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for line in mountinfo.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let mut post = post.split_whitespace();
            let (fstype, _source, opts) = (post.next(), post.next(), post.next().unwrap_or(""));
            let fields: Vec<&str> = pre.split_whitespace().collect();
            let (Some(root), Some(mount)) = (fields.get(3), fields.get(4)) else {
                continue;
            };
            // Only whole hierarchies: a bind mount of a sub-cgroup is not a place to create in.
            if *root != "/" {
                continue;
            }
            let mount = PathBuf::from(unescape(mount));
            let (version, controllers) = match fstype {
                Some("cgroup") => {
                    let c: Vec<String> = opts
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    (Version::V1, c)
                }
                Some("cgroup2") => {
                    let c = v2_controllers(&mount)
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    (Version::V2, c)
                }
                _ => continue,
            };
            if version == Version::V1 && controllers.is_empty() {
                continue;
            }
            let dup = hierarchies.iter().any(|h| {
                h.version == version && (version == Version::V2 || h.controllers == controllers)
            });
            if dup {
                continue;
            }
            let own_path = own_path(own_cgroups, version, &controllers);
            hierarchies.push(Hierarchy {
                mount,
                version,
                controllers,
                own_path,
            });
        }
        hierarchies.sort_by_key(|h| h.version == Version::V2);
        CgroupLayout { hierarchies }
    }

    /// Legacy, hybrid or unified.
    pub fn kind(&self) -> LayoutKind {
        let v1 = self.hierarchies.iter().any(|h| h.version == Version::V1);
        let v2 = self.hierarchies.iter().any(|h| h.version == Version::V2);
        match (v1, v2) {
            (true, true) => LayoutKind::Hybrid,
            (true, false) => LayoutKind::Legacy,
            _ => LayoutKind::Unified,
        }
    }

    /// The hierarchy that provides a controller: its v1 hierarchy if it has one, else the
    /// unified hierarchy if the controller is available there.
    pub fn controller(&self, name: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == name))
            .or_else(|| {
                self.unified()
                    .filter(|h| h.controllers.iter().any(|c| c == name))
            })
    }

    /// The unified hierarchy, if mounted.
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.version == Version::V2)
    }
}

fn read(path: &str) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
        op: "read",
        path: path.into(),
        source,
    })
}

/// The process's cgroup in a hierarchy, from `/proc/self/cgroup` lines `ID:CONTROLLERS:PATH`.
fn own_path(own: &str, version: Version, controllers: &[String]) -> String {
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_id, list, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let matches = match version {
            Version::V2 => list.is_empty(),
            Version::V1 => {
                let mut l: Vec<&str> = list.split(',').collect();
                let mut c: Vec<&str> = controllers.iter().map(String::as_str).collect();
                l.sort_unstable();
                c.sort_unstable();
                l == c
            }
        };
        if matches {
            return path.to_string();
        }
    }
    "/".to_string()
}

/// Mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "9:name=systemd:/\n4:memory:/sandbox/x\n1:cpu:/\n0::/\n";

    #[test]
    fn hybrid() {
        let l = CgroupLayout::parse(HYBRID, OWN, |_| "hugetlb".into());
        assert_eq!(l.kind(), LayoutKind::Hybrid);
        let mem = l.controller("memory").unwrap();
        assert_eq!(mem.mount, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mem.own_path, "/sandbox/x");
        assert_eq!(l.controller("hugetlb").unwrap().version, Version::V2);
        assert!(l.controller("pids").is_none());
        assert_eq!(l.hierarchies.len(), 5);
        assert_eq!(l.hierarchies.last().unwrap().version, Version::V2);
    }

    #[test]
    fn unified() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = CgroupLayout::parse(mi, "0::/user.slice\n", |_| {
            "cpuset cpu io memory pids".into()
        });
        assert_eq!(l.kind(), LayoutKind::Unified);
        let m = l.controller("memory").unwrap();
        assert_eq!(m.version, Version::V2);
        assert_eq!(m.own_path, "/user.slice");
    }

    #[test]
    fn escaped_mountpoint() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }
}
