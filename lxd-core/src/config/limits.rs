//! Typed resource limits parsed from the `limits.*` keys.

use super::units::parse_size_key;
use super::{ConfigError, InstanceConfig};

/// `limits.memory`: an absolute size or a share of the host's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// A number of bytes.
    Bytes(u64),
    /// A percentage (1-100) of the host's total memory.
    Percent(u8),
}

impl MemoryLimit {
    /// Parses `512MiB`, `2GB`, `1073741824` or `50%`.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        if let Some(p) = value.strip_suffix('%') {
            let pct: u8 = p
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| ConfigError::invalid(key, value, "percentage must be 1-100"))?;
            return Ok(MemoryLimit::Percent(pct));
        }
        let bytes = parse_size_key(key, value)?;
        if bytes < 4096 {
            return Err(ConfigError::invalid(
                key,
                value,
                "memory limit must be at least 4KiB",
            ));
        }
        Ok(MemoryLimit::Bytes(bytes))
    }

    /// The limit in bytes given the host's total memory.
    pub fn bytes(self, host_total: u64) -> u64 {
        match self {
            MemoryLimit::Bytes(b) => b,
            MemoryLimit::Percent(p) => host_total / 100 * u64::from(p),
        }
    }
}

/// `limits.cpu`: a number of CPUs, or an explicit set such as `0-1,3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuLimit {
    /// Any `n` CPUs.
    Count(u32),
    /// Exactly these CPUs (sorted, deduplicated).
    Set(Vec<u32>),
}

impl CpuLimit {
    /// Parses `2` (a count) or `0-1,3` / `1-1` (a set), as LXD does.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        if value.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 =
                value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError::invalid(key, value, "CPU count must be at least 1")
                })?;
            return Ok(CpuLimit::Count(n));
        }
        let mut cpus = Vec::new();
        for part in value.split(',') {
            let bad =
                || ConfigError::invalid(key, value, "expected a CPU count or a set like 0-1,3");
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (lo.parse::<u32>(), hi.parse::<u32>()),
                None => (part.parse::<u32>(), part.parse::<u32>()),
            };
            let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
            if lo > hi || hi > 8191 {
                return Err(bad());
            }
            cpus.extend(lo..=hi);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuLimit::Set(cpus))
    }
}

/// `limits.cpu.allowance`: a soft share (`50%`) or a hard quota (`25ms/100ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuAllowance {
    /// A relative share of CPU time when the CPU is contended (1-100 %).
    Percent(u32),
    /// At most `quota_us` of CPU time every `period_us`.
    Quota {
        /// CPU time allowed per period, in microseconds.
        quota_us: u64,
        /// The period, in microseconds.
        period_us: u64,
    },
}

impl CpuAllowance {
    /// Parses `50%` or `25ms/100ms`.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        if let Some(p) = value.strip_suffix('%') {
            let pct: u32 = p
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| ConfigError::invalid(key, value, "percentage must be 1-100"))?;
            return Ok(CpuAllowance::Percent(pct));
        }
        let bad = || ConfigError::invalid(key, value, "expected a percentage or QUOTAms/PERIODms");
        let (q, p) = value.split_once('/').ok_or_else(bad)?;
        let ms = |s: &str| -> Option<u64> { s.strip_suffix("ms")?.parse().ok() };
        let (quota, period) = (ms(q).ok_or_else(bad)?, ms(p).ok_or_else(bad)?);
        if quota == 0 || period == 0 || period > 1000 {
            return Err(ConfigError::invalid(
                key,
                value,
                "quota must be positive and the period 1-1000ms",
            ));
        }
        Ok(CpuAllowance::Quota {
            quota_us: quota * 1000,
            period_us: period * 1000,
        })
    }
}

/// All resource limits of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// `limits.memory`.
    pub memory: Option<MemoryLimit>,
    /// `limits.memory.enforce=soft`: the limit only applies under host memory pressure.
    pub memory_soft: bool,
    /// `limits.memory.swap` (default true): whether the instance may swap.
    pub memory_swap: bool,
    /// `limits.cpu`.
    pub cpu: Option<CpuLimit>,
    /// `limits.cpu.allowance`.
    pub cpu_allowance: Option<CpuAllowance>,
    /// `limits.cpu.priority` (0-10, 10 highest).
    pub cpu_priority: Option<u8>,
    /// `limits.processes`.
    pub processes: Option<u64>,
}

impl ResourceLimits {
    /// Reads the `limits.*` keys of a configuration.
    pub fn from_config(config: &InstanceConfig) -> Result<Self, ConfigError> {
        let get = |k: &str| config.get(k);
        let memory = get("limits.memory")
            .map(|v| MemoryLimit::parse("limits.memory", v))
            .transpose()?;
        let cpu = get("limits.cpu")
            .map(|v| CpuLimit::parse("limits.cpu", v))
            .transpose()?;
        let cpu_allowance = get("limits.cpu.allowance")
            .map(|v| CpuAllowance::parse("limits.cpu.allowance", v))
            .transpose()?;
        let cpu_priority = get("limits.cpu.priority")
            .map(|v| {
                v.parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 10)
                    .ok_or_else(|| ConfigError::invalid("limits.cpu.priority", v, "must be 0-10"))
            })
            .transpose()?;
        let processes = get("limits.processes")
            .map(|v| {
                v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError::invalid("limits.processes", v, "must be a positive integer")
                })
            })
            .transpose()?;
        Ok(ResourceLimits {
            memory,
            memory_soft: get("limits.memory.enforce") == Some("soft"),
            memory_swap: get("limits.memory.swap").is_none_or(super::keys::is_true),
            cpu,
            cpu_allowance,
            cpu_priority,
            processes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limits() {
        assert_eq!(CpuLimit::parse("k", "2"), Ok(CpuLimit::Count(2)));
        assert_eq!(
            CpuLimit::parse("k", "0-1,3"),
            Ok(CpuLimit::Set(vec![0, 1, 3]))
        );
        assert_eq!(CpuLimit::parse("k", "1-1"), Ok(CpuLimit::Set(vec![1])));
        for bad in ["0", "two", "3-1", "1,,2", "-1", "1-"] {
            assert!(CpuLimit::parse("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowance() {
        assert_eq!(
            CpuAllowance::parse("k", "25ms/100ms"),
            Ok(CpuAllowance::Quota {
                quota_us: 25_000,
                period_us: 100_000
            })
        );
        assert_eq!(
            CpuAllowance::parse("k", "50%"),
            Ok(CpuAllowance::Percent(50))
        );
        for bad in ["0%", "101%", "25/100", "ms/ms", "10ms"] {
            assert!(CpuAllowance::parse("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory() {
        assert_eq!(
            MemoryLimit::parse("limits.memory", "512MiB"),
            Ok(MemoryLimit::Bytes(512 << 20))
        );
        assert_eq!(MemoryLimit::Percent(50).bytes(1000), 500);
        let err = MemoryLimit::parse("limits.memory", "lots").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("limits.memory") && msg.contains("lots"),
            "{msg}"
        );
    }
}
