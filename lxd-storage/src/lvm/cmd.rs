//! Running the LVM tools and reading their reports: every call goes through the single `lvm`
//! binary (`lvm lvcreate ...`), reports are asked for without headings, in bytes, with `|`
//! between fields, and parsed into [`VgReport`] and [`LvReport`]. Also the check that the
//! kernel has device-mapper at all.

use std::path::Path;
use std::process::{Command, Stdio};

use super::error::{LvmError, Result};

/// The exit code of the LVM tools when the named object does not exist (`ECMD_FAILED`).
const NOT_FOUND_EXIT: i32 = 5;

/// The field separator asked of the reports; LVM names cannot contain it.
const SEP: &str = "|";

/// Runs a program; `op` and `object` describe what the run is for, in errors.
pub fn run_tool(
    program: &str,
    args: &[&str],
    op: &'static str,
    object: &str,
    package: &'static str,
) -> Result<String> {
    tracing::debug!(program, ?args, "lvm driver runs");
    let out = Command::new(program)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LvmError::ToolMissing {
                    op,
                    object: object.to_string(),
                    tool: program.to_string(),
                    package,
                }
            } else {
                LvmError::Storage(crate::error::StorageError::io("run", program, e))
            }
        })?;
    if !out.status.success() {
        return Err(LvmError::Command {
            op,
            object: object.to_string(),
            cmd: format!("{program} {}", args.join(" ")),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `lvm SUBCOMMAND ARGS...`.
pub fn lvm(op: &'static str, object: &str, args: &[&str]) -> Result<String> {
    run_tool("lvm", args, op, object, "lvm2")
}

/// Whether an error is LVM's "no such object" exit.
pub fn is_not_found(e: &LvmError) -> bool {
    matches!(e, LvmError::Command { status, .. } if status.code() == Some(NOT_FOUND_EXIT))
}

/// One volume group from `vgs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgReport {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Unallocated bytes.
    pub free: u64,
    /// Physical extent size in bytes.
    pub extent_size: u64,
    /// Logical volumes in it (thin volumes included).
    pub lv_count: u64,
    /// Its tags.
    pub tags: Vec<String>,
}

/// One logical volume from `lvs`.
#[derive(Debug, Clone, PartialEq)]
pub struct LvReport {
    /// Name.
    pub name: String,
    /// `lv_attr`, e.g. `Vwi-a-tz--` (type first, permission second).
    pub attr: String,
    /// Size in bytes (the virtual size of a thin volume).
    pub size: u64,
    /// The origin of a snapshot (empty otherwise).
    pub origin: String,
    /// The thin pool of a thin volume (empty otherwise).
    pub pool: String,
    /// Percent of the data space in use, where LVM knows it (active thin volumes and pools).
    pub data_percent: Option<f64>,
}

impl LvReport {
    /// A thin pool.
    pub fn is_thin_pool(&self) -> bool {
        self.attr.starts_with('t')
    }

    /// Read-only.
    pub fn is_read_only(&self) -> bool {
        self.attr.chars().nth(1) == Some('r')
    }
}

fn num(cmd: &str, line: &str, field: &str) -> Result<u64> {
    field.trim().parse().map_err(|_| LvmError::Parse {
        cmd: cmd.to_string(),
        output: line.to_string(),
        reason: format!("{field:?} is not a number of bytes"),
    })
}

fn fields<'a>(cmd: &str, line: &'a str, n: usize) -> Result<Vec<&'a str>> {
    let f: Vec<&str> = line.trim().split(SEP).map(str::trim).collect();
    if f.len() != n {
        return Err(LvmError::Parse {
            cmd: cmd.to_string(),
            output: line.to_string(),
            reason: format!("expected {n} fields separated by {SEP:?}"),
        });
    }
    Ok(f)
}

/// Parses `vgs --noheadings --nosuffix --units b --separator '|' -o
/// vg_name,vg_size,vg_free,vg_extent_size,lv_count,vg_tags`.
pub fn parse_vgs(cmd: &str, out: &str) -> Result<Vec<VgReport>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f = fields(cmd, l, 6)?;
            Ok(VgReport {
                name: f[0].to_string(),
                size: num(cmd, l, f[1])?,
                free: num(cmd, l, f[2])?,
                extent_size: num(cmd, l, f[3])?,
                lv_count: num(cmd, l, f[4])?,
                tags: f[5]
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// Parses `lvs --noheadings --nosuffix --units b --separator '|' -o
/// lv_name,lv_attr,lv_size,origin,pool_lv,data_percent`.
pub fn parse_lvs(cmd: &str, out: &str) -> Result<Vec<LvReport>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f = fields(cmd, l, 6)?;
            let data_percent = if f[5].is_empty() {
                None
            } else {
                Some(f[5].parse::<f64>().map_err(|_| LvmError::Parse {
                    cmd: cmd.to_string(),
                    output: l.to_string(),
                    reason: format!("{:?} is not a percentage", f[5]),
                })?)
            };
            Ok(LvReport {
                name: f[0].to_string(),
                attr: f[1].to_string(),
                size: num(cmd, l, f[2])?,
                origin: f[3].to_string(),
                pool: f[4].to_string(),
                data_percent,
            })
        })
        .collect()
}

const VGS_FIELDS: &str = "vg_name,vg_size,vg_free,vg_extent_size,lv_count,vg_tags";
const LVS_FIELDS: &str = "lv_name,lv_attr,lv_size,origin,pool_lv,data_percent";

/// The volume group `vg`, or `None` when there is none of that name.
pub fn vg(vg: &str) -> Result<Option<VgReport>> {
    let args = [
        "vgs",
        "--noheadings",
        "--nosuffix",
        "--units",
        "b",
        "--separator",
        SEP,
        "-o",
        VGS_FIELDS,
        vg,
    ];
    match lvm("read volume group", vg, &args) {
        Ok(out) => Ok(parse_vgs(&args.join(" "), &out)?.into_iter().next()),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every logical volume of `vg` (hidden internal ones left out).
pub fn lvs(vg: &str) -> Result<Vec<LvReport>> {
    let args = [
        "lvs",
        "--noheadings",
        "--nosuffix",
        "--units",
        "b",
        "--separator",
        SEP,
        "-o",
        LVS_FIELDS,
        vg,
    ];
    match lvm("list logical volumes of", vg, &args) {
        Ok(out) => parse_lvs(&args.join(" "), &out),
        Err(e) if is_not_found(&e) => Err(LvmError::NotFound {
            what: "volume group",
            name: vg.to_string(),
        }),
        Err(e) => Err(e),
    }
}

/// The logical volume `vg/lv`, or `None`.
pub fn lv(vg: &str, lv: &str) -> Result<Option<LvReport>> {
    Ok(lvs(vg)?.into_iter().find(|l| l.name == lv))
}

/// The logical volumes of a volume group as one `lvs` call saw them, so an operation checks
/// what exists with a single call.
#[derive(Debug, Clone)]
pub struct Inventory {
    vg: String,
    list: Vec<LvReport>,
}

impl Inventory {
    /// Reads the logical volumes of `vg`.
    pub fn read(vg: &str) -> Result<Inventory> {
        Ok(Inventory {
            vg: vg.to_string(),
            list: lvs(vg)?,
        })
    }

    /// Every logical volume.
    pub fn all(&self) -> &[LvReport] {
        &self.list
    }

    /// The logical volume `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<&LvReport> {
        self.list.iter().find(|l| l.name == name)
    }

    /// The logical volume `name`, which must exist.
    pub fn require(&self, name: &str) -> Result<&LvReport> {
        self.get(name).ok_or_else(|| LvmError::NotFound {
            what: "logical volume",
            name: format!("{}/{name}", self.vg),
        })
    }

    /// Fails when the logical volume `name` exists.
    pub fn absent(&self, name: &str, what: &'static str) -> Result<()> {
        if self.get(name).is_some() {
            return Err(LvmError::AlreadyExists {
                what,
                name: format!("{}/{name}", self.vg),
            });
        }
        Ok(())
    }
}

/// The volume group a physical volume belongs to: `None` when `dev` is no physical volume,
/// `Some("")` when it is one outside any volume group.
pub fn pv_vg(dev: &Path) -> Result<Option<String>> {
    let d = dev.to_string_lossy();
    match lvm(
        "read physical volume",
        &d,
        &["pvs", "--noheadings", "-o", "vg_name", &d],
    ) {
        Ok(out) => Ok(Some(out.trim().to_string())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The device node of a logical volume.
pub fn dev_path(vg: &str, lv: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/{vg}/{lv}"))
}

/// Checks that the kernel has device-mapper, loading `dm_mod` when it can. Returns what was
/// found missing otherwise. Reads `/proc/misc` (the control device registers there), so it
/// answers at once rather than waiting on an LVM command.
pub fn device_mapper_missing() -> Option<String> {
    let registered = || {
        std::fs::read_to_string("/proc/misc")
            .map(|m| m.lines().any(|l| l.trim_end().ends_with(" device-mapper")))
            .unwrap_or(false)
    };
    if registered() {
        return None;
    }
    let modprobe = Command::new("modprobe")
        .arg("dm_mod")
        .stdin(Stdio::null())
        .output();
    if registered() {
        return None;
    }
    let tried = match modprobe {
        Ok(o) => format!(
            "`modprobe dm_mod` said: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("modprobe could not run: {e}"),
    };
    Some(format!(
        "/proc/misc lists no device-mapper control device and {tried}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vgs() {
        let out =
            "  vg0|4290772992|0|4194304|3|lxd_pool\n  other|1069547520|1069547520|4194304|0|\n";
        let v = parse_vgs("vgs", out).unwrap();
        assert_eq!(
            v[0],
            VgReport {
                name: "vg0".into(),
                size: 4290772992,
                free: 0,
                extent_size: 4194304,
                lv_count: 3,
                tags: vec!["lxd_pool".into()],
            }
        );
        assert!(v[1].tags.is_empty());
        let e = parse_vgs("vgs", "  vg0|4G|0|4194304|3|\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"4G\" is not a number") && e.contains("vgs"),
            "{e}"
        );
    }

    #[test]
    fn reads_lvs() {
        let out = "  LXDThinPool|twi-aotz--|4177526784|||12.50\n  containers_c1|Vwi-a-tz--|10737418240|images_abc|LXDThinPool|1.02\n  containers_c1-s1|Vri---tz-k|10737418240|containers_c1|LXDThinPool|\n";
        let l = parse_lvs("lvs", out).unwrap();
        assert!(l[0].is_thin_pool());
        assert_eq!(l[0].data_percent, Some(12.5));
        assert_eq!(l[1].origin, "images_abc");
        assert_eq!(l[1].pool, "LXDThinPool");
        assert!(!l[1].is_read_only());
        assert!(l[2].is_read_only() && !l[2].is_thin_pool());
        assert_eq!(l[2].data_percent, None);
        assert!(parse_lvs("lvs", "  x|y\n").is_err());
    }
}
