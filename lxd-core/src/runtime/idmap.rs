//! User and group id maps: the host range containers are mapped into (from `/etc/subuid`),
//! the default and isolated allocations, `raw.idmap`, and the JSON form LXD stores in
//! `volatile.idmap.*` and `volatile.last_state.idmap`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::InstanceConfig;

/// Default first host id of the container range when `/etc/subuid` has no entry for root.
pub const DEFAULT_HOST_BASE: u64 = 1_000_000;
/// Default number of host ids available to containers when `/etc/subuid` has no entry.
pub const DEFAULT_HOST_SIZE: u64 = 1_000_000_000;
/// Ids mapped into each container unless `security.idmap.size` says otherwise.
pub const DEFAULT_MAP_SIZE: u64 = 65_536;

/// A failure to parse or allocate an id map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdmapError {
    /// A `raw.idmap` line could not be parsed.
    #[error("invalid raw.idmap line {line:?}: {reason}")]
    RawLine {
        /// The line.
        line: String,
        /// Why.
        reason: &'static str,
    },
    /// No free range of the requested size is left in the host range.
    #[error("no free range of {size} ids is left in the host id range {base}-{end}")]
    Exhausted {
        /// Requested size.
        size: u64,
        /// Host range start.
        base: u64,
        /// Host range end (exclusive).
        end: u64,
    },
    /// A stored id map could not be parsed.
    #[error("invalid stored id map {value:?}: {reason}")]
    Stored {
        /// The stored value.
        value: String,
        /// The parser's message.
        reason: String,
    },
    /// A configured base or size falls outside the host range.
    #[error("id map {base}+{size} is outside the host id range {host_base}+{host_size}")]
    OutOfRange {
        /// Requested base.
        base: u64,
        /// Requested size.
        size: u64,
        /// Host range base.
        host_base: u64,
        /// Host range size.
        host_size: u64,
    },
}

/// One mapped range, with LXD's JSON field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdmapEntry {
    /// The range maps user ids.
    #[serde(rename = "Isuid")]
    pub isuid: bool,
    /// The range maps group ids.
    #[serde(rename = "Isgid")]
    pub isgid: bool,
    /// First host id.
    #[serde(rename = "Hostid")]
    pub hostid: u64,
    /// First id inside the container.
    #[serde(rename = "Nsid")]
    pub nsid: u64,
    /// Number of ids.
    #[serde(rename = "Maprange")]
    pub maprange: u64,
}

/// A container's id map; empty for a privileged container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdmapSet(pub Vec<IdmapEntry>);

impl IdmapSet {
    /// The map of a privileged container: nothing mapped, ids are the host's.
    pub fn privileged() -> Self {
        IdmapSet(Vec::new())
    }

    /// Whether nothing is mapped (privileged).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `nsid hostid range` lines for `/proc/PID/uid_map`.
    pub fn uid_map(&self) -> String {
        self.lines(|e| e.isuid)
    }

    /// `nsid hostid range` lines for `/proc/PID/gid_map`.
    pub fn gid_map(&self) -> String {
        self.lines(|e| e.isgid)
    }

    fn lines(&self, pick: impl Fn(&IdmapEntry) -> bool) -> String {
        self.0
            .iter()
            .filter(|e| pick(e))
            .map(|e| format!("{} {} {}\n", e.nsid, e.hostid, e.maprange))
            .collect()
    }

    /// The host uid of a container uid, if mapped (identity when privileged).
    pub fn host_uid(&self, nsid: u64) -> Option<u64> {
        self.to_host(nsid, |e| e.isuid)
    }

    /// The host gid of a container gid, if mapped (identity when privileged).
    pub fn host_gid(&self, nsid: u64) -> Option<u64> {
        self.to_host(nsid, |e| e.isgid)
    }

    fn to_host(&self, id: u64, pick: impl Fn(&IdmapEntry) -> bool) -> Option<u64> {
        if self.is_empty() {
            return Some(id);
        }
        self.0
            .iter()
            .filter(|e| pick(e))
            .find(|e| id >= e.nsid && id < e.nsid + e.maprange)
            .map(|e| e.hostid + (id - e.nsid))
    }

    /// The container id of a host uid, if it is mapped.
    pub fn ns_uid(&self, hostid: u64) -> Option<u64> {
        self.to_ns(hostid, |e| e.isuid)
    }

    /// The container id of a host gid, if it is mapped.
    pub fn ns_gid(&self, hostid: u64) -> Option<u64> {
        self.to_ns(hostid, |e| e.isgid)
    }

    fn to_ns(&self, id: u64, pick: impl Fn(&IdmapEntry) -> bool) -> Option<u64> {
        if self.is_empty() {
            return Some(id);
        }
        self.0
            .iter()
            .filter(|e| pick(e))
            .find(|e| id >= e.hostid && id < e.hostid + e.maprange)
            .map(|e| e.nsid + (id - e.hostid))
    }

    /// LXD's JSON form, as stored in `volatile.idmap.*` and `volatile.last_state.idmap`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("id maps serialize")
    }

    /// Parses LXD's JSON form.
    pub fn from_json(value: &str) -> Result<Self, IdmapError> {
        serde_json::from_str(value).map_err(|e| IdmapError::Stored {
            value: value.to_string(),
            reason: e.to_string(),
        })
    }
}

/// The host range containers' ids are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIdRange {
    /// First host id.
    pub base: u64,
    /// Number of ids.
    pub size: u64,
}

impl HostIdRange {
    /// Reads root's ranges from `/etc/subuid` and `/etc/subgid` (both must have one; the
    /// smaller is used), or LXD's default when root has none.
    pub fn from_system() -> Self {
        Self::from_files(Path::new("/etc/subuid"), Path::new("/etc/subgid"))
    }

    /// Like [`HostIdRange::from_system`] with explicit files.
    pub fn from_files(subuid: &Path, subgid: &Path) -> Self {
        let read = |p: &Path| -> Option<(u64, u64)> {
            let text = std::fs::read_to_string(p).ok()?;
            text.lines().find_map(|l| {
                let mut f = l.trim().split(':');
                let (who, base, size) = (f.next()?, f.next()?, f.next()?);
                (who == "root" || who == "0").then_some(())?;
                Some((base.parse().ok()?, size.parse().ok()?))
            })
        };
        match (read(subuid), read(subgid)) {
            (Some((ub, us)), Some((gb, gs))) => {
                let base = ub.max(gb);
                let end = (ub + us).min(gb + gs);
                if end > base {
                    HostIdRange {
                        base,
                        size: end - base,
                    }
                } else {
                    Self::default()
                }
            }
            _ => Self::default(),
        }
    }
}

impl Default for HostIdRange {
    fn default() -> Self {
        HostIdRange {
            base: DEFAULT_HOST_BASE,
            size: DEFAULT_HOST_SIZE,
        }
    }
}

/// One `raw.idmap` entry: host ids mapped to container ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawIdmapEntry {
    /// Applies to uids.
    pub uid: bool,
    /// Applies to gids.
    pub gid: bool,
    /// First host id.
    pub host: u64,
    /// First container id.
    pub ns: u64,
    /// Number of ids.
    pub range: u64,
}

/// Parses `raw.idmap`: lines of `both|uid|gid HOST NS` where HOST and NS are ids or ranges
/// `A-B` of equal length.
pub fn parse_raw_idmap(value: &str) -> Result<Vec<RawIdmapEntry>, IdmapError> {
    let mut out = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = |reason| IdmapError::RawLine {
            line: line.to_string(),
            reason,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, host, ns] = fields[..] else {
            return Err(bad("expected three fields: both|uid|gid HOST NS"));
        };
        let (uid, gid) = match kind {
            "both" => (true, true),
            "uid" => (true, false),
            "gid" => (false, true),
            _ => return Err(bad("the first field must be both, uid or gid")),
        };
        let range = |s: &str| -> Option<(u64, u64)> {
            match s.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
                    (b >= a).then(|| (a, b - a + 1))
                }
                None => Some((s.parse().ok()?, 1)),
            }
        };
        let (host, hlen) = range(host).ok_or_else(|| bad("invalid host id or range"))?;
        let (ns, nlen) = range(ns).ok_or_else(|| bad("invalid container id or range"))?;
        if hlen != nlen {
            return Err(bad("host and container ranges differ in length"));
        }
        out.push(RawIdmapEntry {
            uid,
            gid,
            host,
            ns,
            range: hlen,
        });
    }
    Ok(out)
}

/// Removes `[start, start+len)` (container side) from the entries that match `pick`.
fn punch(entries: &mut Vec<IdmapEntry>, start: u64, len: u64, uid: bool, gid: bool) {
    let mut out = Vec::new();
    for e in entries.drain(..) {
        let applies = (uid && e.isuid) || (gid && e.isgid);
        let (lo, hi) = (e.nsid, e.nsid + e.maprange);
        let (plo, phi) = (start.max(lo), (start + len).min(hi));
        if !applies || plo >= phi {
            out.push(e);
            continue;
        }
        // The entry may map both kinds while the hole is for one: keep the other kind whole.
        let untouched = IdmapEntry {
            isuid: e.isuid && !uid,
            isgid: e.isgid && !gid,
            ..e
        };
        if untouched.isuid || untouched.isgid {
            out.push(untouched);
        }
        let piece = |from: u64, to: u64| IdmapEntry {
            isuid: e.isuid && uid,
            isgid: e.isgid && gid,
            hostid: e.hostid + (from - lo),
            nsid: from,
            maprange: to - from,
        };
        if plo > lo {
            out.push(piece(lo, plo));
        }
        if hi > phi {
            out.push(piece(phi, hi));
        }
    }
    *entries = out;
}

/// Where an unprivileged container's ids come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// First host id.
    pub base: u64,
    /// Number of ids.
    pub size: u64,
}

/// Computes a container's id map as LXD does: nothing for a privileged container; the shared
/// default range for an ordinary one; a range of its own, not overlapping `in_use` or the
/// default range, with `security.idmap.isolated` (or `security.idmap.base` when given); then
/// the `raw.idmap` entries punched in.
///
/// `previous` is the container's earlier allocation (`volatile.idmap.base`), kept when it still
/// fits so a container keeps its ids across restarts.
pub fn compute_idmap(
    config: &InstanceConfig,
    host: HostIdRange,
    in_use: &[Allocation],
    previous: Option<u64>,
) -> Result<(IdmapSet, Option<Allocation>), IdmapError> {
    if config.privileged() {
        return Ok((IdmapSet::privileged(), None));
    }
    let size = config
        .get("security.idmap.size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_MAP_SIZE);
    let isolated = config.get_bool("security.idmap.isolated");
    let base = if let Some(b) = config
        .get("security.idmap.base")
        .and_then(|s| s.parse::<u64>().ok())
    {
        if b < host.base || b + size > host.base + host.size {
            return Err(IdmapError::OutOfRange {
                base: b,
                size,
                host_base: host.base,
                host_size: host.size,
            });
        }
        b
    } else if isolated {
        allocate_isolated(host, size, in_use, previous)?
    } else {
        host.base
    };
    let size = if isolated || config.get("security.idmap.base").is_some() {
        size
    } else {
        DEFAULT_MAP_SIZE.min(host.size)
    };
    let mut entries = vec![IdmapEntry {
        isuid: true,
        isgid: true,
        hostid: base,
        nsid: 0,
        maprange: size,
    }];
    let raw = parse_raw_idmap(config.get("raw.idmap").unwrap_or(""))?;
    for r in &raw {
        punch(&mut entries, r.ns, r.range, r.uid, r.gid);
    }
    for r in raw {
        entries.push(IdmapEntry {
            isuid: r.uid,
            isgid: r.gid,
            hostid: r.host,
            nsid: r.ns,
            maprange: r.range,
        });
    }
    entries.sort_by_key(|e| (e.nsid, !e.isuid));
    let alloc = (isolated || config.get("security.idmap.base").is_some())
        .then_some(Allocation { base, size });
    Ok((IdmapSet(entries), alloc))
}

fn allocate_isolated(
    host: HostIdRange,
    size: u64,
    in_use: &[Allocation],
    previous: Option<u64>,
) -> Result<u64, IdmapError> {
    let end = host.base + host.size;
    // The shared default range is taken by non-isolated containers.
    let mut taken: Vec<Allocation> = in_use.to_vec();
    taken.push(Allocation {
        base: host.base,
        size: DEFAULT_MAP_SIZE,
    });
    taken.sort_by_key(|a| a.base);
    let free = |b: u64| {
        b >= host.base
            && b + size <= end
            && taken
                .iter()
                .all(|a| b + size <= a.base || b >= a.base + a.size)
    };
    if let Some(p) = previous.filter(|p| free(*p)) {
        return Ok(p);
    }
    let mut candidate = host.base + DEFAULT_MAP_SIZE;
    for a in &taken {
        if free(candidate) {
            return Ok(candidate);
        }
        if a.base + a.size > candidate {
            candidate = a.base + a.size;
        }
    }
    if free(candidate) {
        return Ok(candidate);
    }
    Err(IdmapError::Exhausted {
        size,
        base: host.base,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> InstanceConfig {
        InstanceConfig::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn default_map() {
        let (map, alloc) = compute_idmap(&cfg(&[]), HostIdRange::default(), &[], None).unwrap();
        assert_eq!(map.uid_map(), "0 1000000 65536\n");
        assert_eq!(map.gid_map(), "0 1000000 65536\n");
        assert_eq!(map.host_uid(0), Some(1_000_000));
        assert_eq!(map.ns_uid(1_000_005), Some(5));
        assert_eq!(alloc, None);
        let json = map.to_json();
        assert_eq!(
            json,
            r#"[{"Isuid":true,"Isgid":true,"Hostid":1000000,"Nsid":0,"Maprange":65536}]"#
        );
        assert_eq!(IdmapSet::from_json(&json).unwrap(), map);
    }

    #[test]
    fn privileged_maps_nothing() {
        let (map, _) = compute_idmap(
            &cfg(&[("security.privileged", "true")]),
            HostIdRange::default(),
            &[],
            None,
        )
        .unwrap();
        assert!(map.is_empty());
        assert_eq!(map.host_uid(0), Some(0));
    }

    #[test]
    fn isolated_ranges_do_not_overlap() {
        let c = cfg(&[("security.idmap.isolated", "true")]);
        let host = HostIdRange::default();
        let (_, a) = compute_idmap(&c, host, &[], None).unwrap();
        let a = a.unwrap();
        assert_eq!(a.base, 1_000_000 + 65_536);
        let (_, b) = compute_idmap(&c, host, &[a], None).unwrap();
        let b = b.unwrap();
        assert_eq!(b.base, a.base + a.size);
        // The previous allocation is kept while it is free.
        let (_, again) = compute_idmap(&c, host, &[b], Some(a.base)).unwrap();
        assert_eq!(again.unwrap().base, a.base);
        let small = HostIdRange {
            base: 1_000_000,
            size: 65_536 * 2,
        };
        assert!(compute_idmap(&c, small, &[a], None).is_err());
    }

    #[test]
    fn raw_idmap_punches_holes() {
        let c = cfg(&[("raw.idmap", "both 1000 1000\nuid 50-51 2000-2001")]);
        let (map, _) = compute_idmap(&c, HostIdRange::default(), &[], None).unwrap();
        assert_eq!(map.host_uid(1000), Some(1000));
        assert_eq!(map.host_gid(1000), Some(1000));
        assert_eq!(map.host_uid(999), Some(1_000_999));
        assert_eq!(map.host_uid(1001), Some(1_001_001));
        assert_eq!(map.host_uid(2001), Some(51));
        assert_eq!(map.host_gid(2001), Some(1_002_001));
        // No container id is mapped twice.
        for id in [0u64, 999, 1000, 1001, 2000, 2001, 65535] {
            let n = map
                .0
                .iter()
                .filter(|e| e.isuid && id >= e.nsid && id < e.nsid + e.maprange)
                .count();
            assert_eq!(n, 1, "uid {id}");
        }
    }

    #[test]
    fn raw_idmap_errors() {
        for bad in ["both 1", "all 1 1", "uid 1-3 1-2", "uid a b", "uid 5-1 5-1"] {
            assert!(parse_raw_idmap(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subuid_files() {
        let dir = std::env::temp_dir().join(format!("lxd-core-subuid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (u, g) = (dir.join("subuid"), dir.join("subgid"));
        std::fs::write(&u, "alice:100000:65536\nroot:200000:1000000\n").unwrap();
        std::fs::write(&g, "root:200000:500000\n").unwrap();
        assert_eq!(
            HostIdRange::from_files(&u, &g),
            HostIdRange {
                base: 200000,
                size: 500000
            }
        );
        assert_eq!(
            HostIdRange::from_files(&dir.join("none"), &g),
            HostIdRange::default()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
