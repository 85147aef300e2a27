//! Writing `limits.*` into cgroup files, with LXD's arithmetic, on v1 and v2.

use std::path::Path;

use super::{read, write, Cgroup, CgroupError, Version};
use crate::config::{CpuAllowance, CpuLimit, ResourceLimits};

/// Total memory of the host in bytes, from `/proc/meminfo`.
pub(crate) fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU shares (v1, max 1024) or weight base (v2, max 100), CFS quota and period, as LXD
/// computes them from `limits.cpu.allowance` and `limits.cpu.priority`.
pub(crate) fn cpu_shares(
    allowance: Option<CpuAllowance>,
    priority: Option<u8>,
    max: i64,
) -> (i64, Option<(u64, u64)>) {
    let mut shares = -(10 - i64::from(priority.unwrap_or(10)));
    let quota = match allowance {
        Some(CpuAllowance::Percent(p)) => {
            shares += max * i64::from(p) / 100;
            None
        }
        Some(CpuAllowance::Quota {
            quota_us,
            period_us,
        }) => {
            shares += max;
            Some((quota_us, period_us))
        }
        None => {
            shares += max;
            None
        }
    };
    (shares.max(0), quota)
}

/// Formats a CPU list as `0-1,3`.
pub(crate) fn format_cpus(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// Parses a kernel CPU list (`0-3,5`).
pub(crate) fn parse_cpus(list: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

fn parent_cpus(dir: &Path, version: Version) -> Result<Vec<u32>, CgroupError> {
    let parent = dir.parent().expect("cgroup dirs have a parent");
    let file = match version {
        Version::V1 => "cpuset.effective_cpus",
        Version::V2 => "cpuset.cpus.effective",
    };
    let text = read(&parent.join(file)).or_else(|_| read(&parent.join("cpuset.cpus")))?;
    Ok(parse_cpus(&text))
}

/// Picks the CPUs for `limits.cpu`: a count takes that many of the available CPUs, starting at
/// an offset derived from the cgroup's name so instances spread over the CPUs.
pub(crate) fn choose_cpus(
    limit: &CpuLimit,
    available: &[u32],
    spread_key: &str,
) -> Result<Vec<u32>, String> {
    match limit {
        CpuLimit::Set(set) => {
            if let Some(bad) = set.iter().find(|c| !available.contains(c)) {
                return Err(format!(
                    "CPU {bad} is not available (available: {})",
                    format_cpus(available)
                ));
            }
            Ok(set.clone())
        }
        CpuLimit::Count(n) => {
            let n = (*n as usize).min(available.len());
            let offset = spread_key
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
                % available.len().max(1);
            let mut cpus: Vec<u32> = (0..n)
                .map(|i| available[(offset + i) % available.len()])
                .collect();
            cpus.sort_unstable();
            Ok(cpus)
        }
    }
}

pub(super) fn apply(cg: &Cgroup, limits: &ResourceLimits) -> Result<(), CgroupError> {
    if let Some(mem) = limits.memory {
        let dir = cg
            .find("memory")
            .ok_or_else(|| missing("limits.memory", "memory"))?;
        let bytes = mem.bytes(host_memory());
        let p = &dir.path;
        match (dir.version, limits.memory_soft) {
            (Version::V1, true) => {
                write(&p.join("memory.soft_limit_in_bytes"), &bytes.to_string())?
            }
            (Version::V1, false) => {
                write(&p.join("memory.limit_in_bytes"), &bytes.to_string())?;
                let memsw = p.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &bytes.to_string())?;
                }
                write(
                    &p.join("memory.soft_limit_in_bytes"),
                    &(bytes / 10 * 9).to_string(),
                )?;
            }
            (Version::V2, true) => write(&p.join("memory.high"), &bytes.to_string())?,
            (Version::V2, false) => {
                write(&p.join("memory.max"), &bytes.to_string())?;
                if !limits.memory_swap && p.join("memory.swap.max").exists() {
                    write(&p.join("memory.swap.max"), "0")?;
                }
            }
        }
        if !limits.memory_swap && dir.version == Version::V1 {
            write(&p.join("memory.swappiness"), "0")?;
        }
    }
    if let Some(cpu) = &limits.cpu {
        let dir = cg
            .find("cpuset")
            .ok_or_else(|| missing("limits.cpu", "cpuset"))?;
        let available = parent_cpus(&dir.path, dir.version)?;
        let name = dir
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cpus = choose_cpus(cpu, &available, &name).map_err(|reason| CgroupError::Limit {
            key: "limits.cpu",
            reason,
        })?;
        write(&dir.path.join("cpuset.cpus"), &format_cpus(&cpus))?;
    }
    if limits.cpu_allowance.is_some() || limits.cpu_priority.is_some() {
        let dir = cg
            .find("cpu")
            .ok_or_else(|| missing("limits.cpu.allowance", "cpu"))?;
        let p = &dir.path;
        match dir.version {
            Version::V1 => {
                let (shares, quota) = cpu_shares(limits.cpu_allowance, limits.cpu_priority, 1024);
                if shares != 1024 {
                    write(&p.join("cpu.shares"), &shares.max(2).to_string())?;
                }
                if let Some((q, period)) = quota {
                    write(&p.join("cpu.cfs_period_us"), &period.to_string())?;
                    write(&p.join("cpu.cfs_quota_us"), &q.to_string())?;
                }
            }
            Version::V2 => {
                let (weight, quota) = cpu_shares(limits.cpu_allowance, limits.cpu_priority, 100);
                write(&p.join("cpu.weight"), &weight.max(1).to_string())?;
                if let Some((q, period)) = quota {
                    write(&p.join("cpu.max"), &format!("{q} {period}"))?;
                }
            }
        }
    }
    if let Some(n) = limits.processes {
        let dir = cg
            .find("pids")
            .ok_or_else(|| missing("limits.processes", "pids"))?;
        write(&dir.path.join("pids.max"), &n.to_string())?;
    }
    Ok(())
}

fn missing(key: &'static str, controller: &str) -> CgroupError {
    CgroupError::Limit {
        key,
        reason: format!("the {controller} cgroup controller is not available on this host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lxd_cpu_arithmetic() {
        assert_eq!(cpu_shares(None, None, 1024), (1024, None));
        assert_eq!(
            cpu_shares(Some(CpuAllowance::Percent(50)), None, 1024),
            (512, None)
        );
        assert_eq!(cpu_shares(None, Some(5), 1024), (1019, None));
        assert_eq!(
            cpu_shares(
                Some(CpuAllowance::Quota {
                    quota_us: 25_000,
                    period_us: 100_000
                }),
                None,
                100
            ),
            (100, Some((25_000, 100_000)))
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0-3,5\n"), vec![0, 1, 2, 3, 5]);
        assert_eq!(format_cpus(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        let avail = [0, 1, 2, 3];
        let two = choose_cpus(&CpuLimit::Count(2), &avail, "x").unwrap();
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|c| avail.contains(c)));
        assert_eq!(
            choose_cpus(&CpuLimit::Count(9), &avail, "x").unwrap().len(),
            4
        );
        assert!(choose_cpus(&CpuLimit::Set(vec![7]), &avail, "x").is_err());
    }
}
