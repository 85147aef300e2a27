//! Wire tests for `lxd_api::types`.
//!
//! - Every modelled definition of LXD 5.0's REST API spec (`shared/spec/lxd-rest-api.yaml`,
//!   LXD's own `doc/rest-api.yaml`) decodes the spec's example values and encodes them back
//!   exactly: every property, no other field (save the few LXD 5.0.2 added), Go's `omitempty`
//!   fields skipped only when empty.
//! - Zero values write every field Go writes.
//! - Bodies captured from a real LXD 5.0.2 daemon and its `lxc` client on this machine decode
//!   and encode back byte for byte (Go's field order, compact JSON).
//! - Status codes, times, envelopes and helpers behave as LXD's.

use lxd_api::types::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The spec.

/// Where the spec is: `LXD_REST_API_SPEC`, else `shared/spec/` beside the repository.
fn spec_path() -> PathBuf {
    match std::env::var_os("LXD_REST_API_SPEC") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/lxd-rest-api.yaml")
        }
    }
}

/// The spec's `definitions`.
fn defs() -> &'static Map<String, Value> {
    static DEFS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFS.get_or_init(|| {
        #[derive(serde::Deserialize)]
        struct Spec {
            definitions: Map<String, Value>,
        }
        let path = spec_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the REST API spec {}: {e} (set LXD_REST_API_SPEC)",
                path.display()
            )
        });
        let spec: Spec = yaml_serde::from_str(&text)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
        spec.definitions
    })
}

/// Go fields tagged `omitempty` (LXD 5.0.2's `shared/api`), by definition.
const OMITEMPTY: &[(&str, &[&str])] = &[
    ("InstancesPost", &["restore"]),
    ("InstancePostTarget", &["operation", "secrets"]),
    ("InstancePut", &["restore"]),
    (
        "Instance",
        &["restore", "expanded_config", "expanded_devices"],
    ),
    (
        "InstanceFull",
        &["restore", "expanded_config", "expanded_devices"],
    ),
    (
        "InstanceSource",
        &[
            "alias",
            "fingerprint",
            "properties",
            "server",
            "secret",
            "protocol",
            "base-image",
            "mode",
            "operation",
            "secrets",
            "source",
            "live",
            "instance_only",
            "container_only",
            "refresh",
            "project",
        ],
    ),
    ("InstanceSnapshotPost", &["live"]),
    ("InstanceSnapshot", &["expanded_config", "expanded_devices"]),
    ("Image", &["update_source"]),
    ("ResourcesStoragePoolSpace", &["used"]),
    ("StorageVolumesPost", &["restore"]),
    ("StorageVolumePost", &["pool", "project"]),
    ("StorageVolumePostTarget", &["operation", "secrets"]),
    ("StorageVolume", &["restore"]),
    ("StorageVolumePut", &["restore"]),
    (
        "StorageVolumeSource",
        &["mode", "operation", "secrets", "project"],
    ),
    ("StorageVolumeStateUsage", &["used"]),
    ("Event", &["location", "project"]),
    (
        "ResourcesCPUSocket",
        &[
            "name",
            "vendor",
            "cache",
            "frequency",
            "frequency_minimum",
            "frequency_turbo",
        ],
    ),
    ("ResourcesCPUCore", &["frequency"]),
    (
        "ResourcesGPUCard",
        &[
            "driver",
            "driver_version",
            "drm",
            "sriov",
            "nvidia",
            "mdev",
            "pci_address",
            "vendor",
            "vendor_id",
            "product",
            "product_id",
            "usb_address",
        ],
    ),
    (
        "ResourcesGPUCardDRM",
        &[
            "control_name",
            "control_device",
            "render_name",
            "render_device",
        ],
    ),
    (
        "ResourcesGPUCardNvidia",
        &["cuda_version", "nvrm_version", "uuid", "architecture"],
    ),
    ("ResourcesGPUCardMdev", &["name", "description"]),
    (
        "ResourcesNetworkCard",
        &[
            "driver",
            "driver_version",
            "ports",
            "sriov",
            "pci_address",
            "vendor",
            "vendor_id",
            "product",
            "product_id",
            "firmware_version",
            "usb_address",
        ],
    ),
    (
        "ResourcesNetworkCardPort",
        &[
            "address",
            "supported_modes",
            "supported_ports",
            "port_type",
            "transceiver_type",
            "link_speed",
            "link_duplex",
            "infiniband",
        ],
    ),
    (
        "ResourcesNetworkCardPortInfiniband",
        &[
            "issm_name",
            "issm_device",
            "mad_name",
            "mad_device",
            "verb_name",
            "verb_device",
        ],
    ),
    (
        "ResourcesStorageDisk",
        &[
            "model",
            "type",
            "wwn",
            "device_path",
            "firmware_version",
            "serial",
            "pci_address",
            "usb_address",
        ],
    ),
    ("ResourcesMemory", &["nodes"]),
];

/// Fields LXD 5.0.2 writes that the 5.0.0 spec lacks, with their zero values.
const ADDED_IN_5_0_2: &[(&str, &[(&str, &str)])] = &[
    ("ImageExportPost", &[("profiles", "[]")]),
    (
        "StorageVolume",
        &[
            ("project", r#""""#),
            ("created_at", r#""0001-01-01T00:00:00Z""#),
        ],
    ),
    (
        "StorageVolumeSnapshot",
        &[("created_at", r#""0001-01-01T00:00:00Z""#)],
    ),
    ("StorageVolumeStateUsage", &[("total", "0")]),
    ("ResourcesPCIDevice", &[("vpd", "{}")]),
];

/// Spec definitions deliberately not modelled here (outside the daemon's scope for now), and
/// the two that are not objects (`StatusCode` is [`StatusCode`], `InstanceType` a string).
const NOT_MODELLED: &[&str] = &[
    "Certificate",
    "CertificateAddToken",
    "CertificatePut",
    "CertificatesPost",
    "Cluster",
    "ClusterCertificatePut",
    "ClusterGroup",
    "ClusterGroupPost",
    "ClusterGroupPut",
    "ClusterGroupsPost",
    "ClusterMember",
    "ClusterMemberConfigKey",
    "ClusterMemberJoinToken",
    "ClusterMemberPost",
    "ClusterMemberPut",
    "ClusterMemberStatePost",
    "ClusterMembersPost",
    "ClusterPut",
    "InstanceBackupPost",
    "InstanceBackupsPost",
    "InstanceType",
    "NetworkACL",
    "NetworkACLPost",
    "NetworkACLPut",
    "NetworkACLRule",
    "NetworkACLsPost",
    "NetworkForward",
    "NetworkForwardPort",
    "NetworkForwardPut",
    "NetworkForwardsPost",
    "NetworkPeer",
    "NetworkPeerPut",
    "NetworkPeersPost",
    "NetworkZone",
    "NetworkZonePut",
    "NetworkZoneRecord",
    "NetworkZoneRecordEntry",
    "NetworkZoneRecordPut",
    "NetworkZoneRecordsPost",
    "NetworkZonesPost",
    "StatusCode",
    "StoragePoolVolumeBackup",
    "StoragePoolVolumeBackupPost",
    "StoragePoolVolumeBackupsPost",
    "Warning",
    "WarningPut",
];

fn omitempty(def: &str) -> &'static [&'static str] {
    OMITEMPTY
        .iter()
        .find(|(d, _)| *d == def)
        .map_or(&[], |(_, f)| f)
}

fn added(def: &str) -> Vec<(String, Value)> {
    ADDED_IN_5_0_2
        .iter()
        .filter(|(d, _)| *d == def)
        .flat_map(|(_, fields)| fields.iter())
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                serde_json::from_str(v).expect("zero value is JSON"),
            )
        })
        .collect()
}

/// Go's `omitempty` emptiness for the values the spec examples hold.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        // Only maps are tagged omitempty among object-valued fields here.
        Value::Object(o) => o.is_empty(),
    }
}

/// The example object of definition `def`, built from its properties' `example`s (and the
/// examples of referenced definitions), and what LXD would write for it.
fn example(def: &str) -> (Value, Value) {
    let d = defs()
        .get(def)
        .unwrap_or_else(|| panic!("definition {def} is not in the spec"));
    let props = d["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("definition {def} has no properties"));
    let (mut input, mut expected) = (Map::new(), Map::new());
    for (key, prop) in props {
        let (i, e) = prop_example(def, key, prop);
        if !(omitempty(def).contains(&key.as_str()) && is_empty(&e)) {
            expected.insert(key.clone(), e);
        }
        input.insert(key.clone(), i);
    }
    for (key, zero) in added(def) {
        expected.insert(key, zero);
    }
    (Value::Object(input), Value::Object(expected))
}

fn ref_name(reference: &Value) -> &str {
    reference
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .expect("$ref is a path")
}

fn ref_example(reference: &Value) -> (Value, Value) {
    let name = ref_name(reference);
    match defs()[name]["type"].as_str() {
        Some("integer") => (json!(103), json!(103)), // StatusCode
        Some("string") => (json!("container"), json!("container")), // InstanceType
        _ => example(name),
    }
}

/// What LXD writes for an example object of definition `def` that the spec gives whole
/// (list items, map values): every field of the type, with the example's values under their
/// canonical names (Go matches names case-insensitively).
fn conform(def: &str, value: &Value) -> Value {
    let Value::Object(fields) = value else {
        return value.clone();
    };
    let t = SPEC_TYPES
        .iter()
        .find(|t| t.name == def)
        .unwrap_or_else(|| panic!("{def} not modelled"));
    let mut out = (t.zero)()
        .as_object()
        .cloned()
        .expect("a struct encodes as an object");
    let props = defs()[def]["properties"]
        .as_object()
        .expect("definition has properties");
    for (k, v) in fields {
        let canonical = props
            .keys()
            .find(|p| p.eq_ignore_ascii_case(k))
            .unwrap_or(k);
        out.insert(canonical.clone(), v.clone());
    }
    Value::Object(out)
}

fn prop_example(def: &str, key: &str, prop: &Value) -> (Value, Value) {
    if let Some(r) = prop.get("$ref") {
        return ref_example(r);
    }
    let ty = prop["type"]
        .as_str()
        .unwrap_or_else(|| panic!("{def}.{key} has no type"));
    match (prop.get("example"), ty) {
        // `example: null` on a list or map: Go reads it as empty.
        (Some(Value::Null), "array") => (Value::Null, json!([])),
        (Some(Value::Null), "object") => (Value::Null, json!({})),
        // The spec gives a scalar example for some lists (ImageMetadataTemplate.when).
        (Some(ex), "array") if !ex.is_array() => (json!([ex]), json!([ex])),
        (Some(Value::Array(items)), "array") => match prop["items"].get("$ref") {
            Some(r) => {
                let item = ref_name(r);
                (
                    json!(items),
                    items.iter().map(|v| conform(item, v)).collect(),
                )
            }
            None => (json!(items), json!(items)),
        },
        (Some(Value::Object(map)), "object") => {
            match prop.get("additionalProperties").and_then(|a| a.get("$ref")) {
                Some(r) => {
                    let item = ref_name(r);
                    let conformed: Map<String, Value> = map
                        .iter()
                        .map(|(k, v)| (k.clone(), conform(item, v)))
                        .collect();
                    (json!(map), Value::Object(conformed))
                }
                None => (json!(map), json!(map)),
            }
        }
        (Some(ex), _) => (ex.clone(), ex.clone()),
        (None, "array") => match prop["items"].get("$ref") {
            Some(r) => {
                let (i, e) = ref_example(r);
                (json!([i]), json!([e]))
            }
            None => (json!([]), json!([])),
        },
        (None, "object") => match prop.get("additionalProperties").and_then(|a| a.get("$ref")) {
            Some(r) => {
                let (i, e) = ref_example(r);
                (json!({ "key": i }), json!({ "key": e }))
            }
            None => (json!({}), json!({})),
        },
        (None, "string") => (json!("s"), json!("s")),
        (None, "integer") => (json!(7), json!(7)),
        (None, "boolean") => (json!(true), json!(true)),
        (None, other) => panic!("{def}.{key}: no example for type {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The modelled spec definitions.

/// One wire type: decode-encode of a JSON value, and its zero value's JSON.
struct WireType {
    name: &'static str,
    round_trip: fn(&Value) -> Result<Value, String>,
    zero: fn() -> Value,
}

/// Decodes `v` as `T`, encodes it back, and checks a second decode gives the same `T`.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: &Value,
) -> Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| format!("decode: {e}"))?;
    let out = serde_json::to_value(&t).map_err(|e| format!("encode: {e}"))?;
    let again: T = serde_json::from_value(out.clone()).map_err(|e| format!("re-decode: {e}"))?;
    if again != t {
        return Err(format!("second decode differs: {again:?} != {t:?}"));
    }
    Ok(out)
}

fn zero<T: Default + Serialize>() -> Value {
    serde_json::to_value(T::default()).expect("zero value encodes")
}

macro_rules! wire_types {
    ($($t:ident),* $(,)?) => {
        &[$(WireType { name: stringify!($t), round_trip: round_trip::<$t>, zero: zero::<$t> }),*]
    };
}

/// Every spec definition modelled in `lxd_api::types`.
const SPEC_TYPES: &[WireType] = wire_types![
    // server.rs
    Server,
    ServerUntrusted,
    ServerEnvironment,
    ServerPut,
    ServerStorageDriverInfo,
    // instance.rs
    Instance,
    InstanceFull,
    InstancePut,
    InstancesPost,
    InstanceSource,
    InstancesPut,
    InstancePost,
    InstancePostTarget,
    InstanceState,
    InstanceStatePut,
    InstanceStateCPU,
    InstanceStateDisk,
    InstanceStateMemory,
    InstanceStateNetwork,
    InstanceStateNetworkAddress,
    InstanceStateNetworkCounters,
    InstanceSnapshot,
    InstanceSnapshotPut,
    InstanceSnapshotsPost,
    InstanceSnapshotPost,
    InstanceExecPost,
    InstanceConsolePost,
    InstanceBackup,
    // image.rs
    Image,
    ImagePut,
    ImagesPost,
    ImagesPostSource,
    ImageAlias,
    ImageAliasesEntry,
    ImageAliasesEntryPut,
    ImageAliasesEntryPost,
    ImageAliasesPost,
    ImageSource,
    ImageMetadata,
    ImageMetadataTemplate,
    ImageExportPost,
    // storage.rs
    StoragePool,
    StoragePoolPut,
    StoragePoolsPost,
    ResourcesStoragePool,
    ResourcesStoragePoolSpace,
    ResourcesStoragePoolInodes,
    StorageVolume,
    StorageVolumePut,
    StorageVolumesPost,
    StorageVolumeSource,
    StorageVolumePost,
    StorageVolumePostTarget,
    StorageVolumeSnapshot,
    StorageVolumeSnapshotPut,
    StorageVolumeSnapshotsPost,
    StorageVolumeSnapshotPost,
    StorageVolumeState,
    StorageVolumeStateUsage,
    // profile.rs, project.rs
    Profile,
    ProfilePut,
    ProfilesPost,
    ProfilePost,
    Project,
    ProjectPut,
    ProjectsPost,
    ProjectPost,
    ProjectState,
    ProjectStateResource,
    // operation.rs, event.rs
    Operation,
    Event,
    // network.rs
    Network,
    NetworkPut,
    NetworksPost,
    NetworkPost,
    NetworkState,
    NetworkStateAddress,
    NetworkStateCounters,
    NetworkStateBond,
    NetworkStateBridge,
    NetworkStateVLAN,
    NetworkStateOVN,
    NetworkLease,
    // resources.rs
    Resources,
    ResourcesCPU,
    ResourcesCPUSocket,
    ResourcesCPUCache,
    ResourcesCPUCore,
    ResourcesCPUThread,
    ResourcesGPU,
    ResourcesGPUCard,
    ResourcesGPUCardDRM,
    ResourcesGPUCardSRIOV,
    ResourcesGPUCardNvidia,
    ResourcesGPUCardMdev,
    ResourcesNetwork,
    ResourcesNetworkCard,
    ResourcesNetworkCardPort,
    ResourcesNetworkCardPortInfiniband,
    ResourcesNetworkCardSRIOV,
    ResourcesStorage,
    ResourcesStorageDisk,
    ResourcesStorageDiskPartition,
    ResourcesMemory,
    ResourcesMemoryNode,
    ResourcesUSB,
    ResourcesUSBDevice,
    ResourcesUSBDeviceInterface,
    ResourcesPCI,
    ResourcesPCIDevice,
    ResourcesSystem,
    ResourcesSystemFirmware,
    ResourcesSystemChassis,
    ResourcesSystemMotherboard,
];

/// The paths where two JSON values differ, for readable failures.
fn differences(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => differences(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: missing (want {wv})")),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected field = {gv}"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                differences(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want != got => out.push(format!("{path}: want {want}, got {got}")),
        _ => {}
    }
}

#[test]
fn every_modelled_spec_definition_round_trips_its_example_exactly() {
    let mut failures = Vec::new();
    for t in SPEC_TYPES {
        let (input, expected) = example(t.name);
        match (t.round_trip)(&input) {
            Ok(got) => differences(t.name, &expected, &got, &mut failures),
            Err(e) => failures.push(format!("{}: {e}\n  input {input}", t.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn zero_values_write_every_field_go_writes() {
    let mut failures = Vec::new();
    for t in SPEC_TYPES {
        let got = (t.zero)();
        let got = got.as_object().expect("a struct encodes as an object");
        let props = defs()[t.name]["properties"]
            .as_object()
            .expect("definition has properties");
        let mut want: BTreeSet<String> = props
            .keys()
            .filter(|k| !omitempty(t.name).contains(&k.as_str()))
            .cloned()
            .collect();
        want.extend(added(t.name).into_iter().map(|(k, _)| k));
        let have: BTreeSet<String> = got.keys().cloned().collect();
        if want != have {
            failures.push(format!("{}: fields {have:?}, want {want:?}", t.name));
        }
        // A zero `time.Time` is written as Go's zero time, never as "".
        for (key, prop) in props {
            if prop["format"] == "date-time" {
                if let Some(v) = got.get(key).filter(|v| !v.is_null()) {
                    if v != ZERO_TIME {
                        failures.push(format!("{}.{key}: zero time written as {v}", t.name));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_modelled_set_is_every_spec_definition_but_the_listed_ones() {
    let modelled: BTreeSet<&str> = SPEC_TYPES.iter().map(|t| t.name).collect();
    assert_eq!(modelled.len(), SPEC_TYPES.len(), "a type is listed twice");
    let not_modelled: BTreeSet<&str> = NOT_MODELLED.iter().copied().collect();
    let in_spec: BTreeSet<&str> = defs().keys().map(String::as_str).collect();
    let unknown: Vec<_> = modelled
        .union(&not_modelled)
        .filter(|n| !in_spec.contains(*n))
        .collect();
    assert!(unknown.is_empty(), "not spec definitions: {unknown:?}");
    let forgotten: Vec<_> = in_spec
        .iter()
        .filter(|n| !modelled.contains(*n) && !not_modelled.contains(*n))
        .collect();
    assert!(
        forgotten.is_empty(),
        "spec definitions neither modelled nor listed: {forgotten:?}"
    );
    assert!(modelled.is_disjoint(&not_modelled));
}

// ---------------------------------------------------------------------------------------------
// Real LXD 5.0.2 output.

/// Decodes a sync response with metadata `T` and encodes it back to the same bytes, directly
/// and through [`Response::sync`].
fn sync_exact<T: Serialize + DeserializeOwned + Default + PartialEq + std::fmt::Debug>(
    name: &str,
    sample: &str,
) -> T {
    let r: Response<T> =
        serde_json::from_str(sample).unwrap_or_else(|e| panic!("{name}: decode: {e}"));
    assert_eq!(r.r#type, ResponseType::Sync, "{name}");
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        sample,
        "{name}: re-encoded"
    );
    let rebuilt = Response::sync(&r.metadata);
    assert_eq!(
        serde_json::to_string(&rebuilt).unwrap(),
        sample,
        "{name}: Response::sync"
    );
    // The untyped envelope holds the same, modulo key order.
    let untyped: Response = serde_json::from_str(sample).unwrap();
    assert_eq!(
        untyped.metadata_as::<T>().unwrap(),
        r.metadata,
        "{name}: metadata_as"
    );
    r.metadata
}

/// Decodes `sample` as `T` and encodes it back to the same bytes.
fn exact<T: Serialize + DeserializeOwned>(name: &str, sample: &str) -> T {
    let t: T = serde_json::from_str(sample).unwrap_or_else(|e| panic!("{name}: decode: {e}"));
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        sample,
        "{name}: re-encoded"
    );
    t
}

#[test]
fn real_sync_responses_round_trip_byte_for_byte() {
    let server: Server = sync_exact("SERVER", real::SERVER);
    assert_eq!(server.environment.server_version, "5.0.2");
    assert_eq!(server.untrusted().auth, "trusted");

    let c1: InstanceFull = sync_exact("INSTANCE_FULL", real::INSTANCE_FULL);
    assert_eq!(c1.status_code, StatusCode::RUNNING);
    assert_eq!(c1.backups, None, "no backups is null");
    let state = c1.state.as_ref().expect("state");
    assert!(state.network.as_ref().is_some_and(|n| n.contains_key("lo")));
    let snaps = c1.snapshots.as_ref().expect("one snapshot");
    assert_eq!(snaps[0].name, "s1");
    assert!(snaps[0].expires_at.is_zero());
    assert_eq!(
        InstanceFull::from_parts(c1.instance(), c1.state.clone(), c1.snapshots.clone(), None),
        c1
    );

    let c5: Instance = sync_exact("INSTANCE_STOPPED", real::INSTANCE_STOPPED);
    assert_eq!(
        (c5.status.as_str(), c5.status_code),
        ("Stopped", StatusCode::STOPPED)
    );
    let list: Vec<InstanceFull> = sync_exact("INSTANCES_RECURSION2", real::INSTANCES_RECURSION2);
    assert_eq!(
        list[0].state.as_ref().expect("state").network,
        None,
        "stopped: network is null"
    );

    sync_exact::<Image>("IMAGE", real::IMAGE);
    sync_exact::<ImageAliasesEntry>("IMAGE_ALIAS", real::IMAGE_ALIAS);
    sync_exact::<Profile>("PROFILE", real::PROFILE);
    let nets: Vec<Network> = sync_exact("NETWORKS", real::NETWORKS);
    assert!(nets
        .iter()
        .any(|n| n.used_by.is_none() && n.locations.is_none()));
    let pool: StoragePool = sync_exact("STORAGE_POOL_UNUSED", real::STORAGE_POOL_UNUSED);
    assert_eq!(pool.used_by, None);
    sync_exact::<Vec<StoragePool>>("STORAGE_POOLS", real::STORAGE_POOLS);
    let vols: Vec<StorageVolume> = sync_exact("STORAGE_VOLUMES", real::STORAGE_VOLUMES);
    assert_eq!(vols[0].project, "default", "5.0.2's volume project field");
    sync_exact::<ResourcesStoragePool>("POOL_RESOURCES", real::POOL_RESOURCES);
    sync_exact::<Vec<Project>>("PROJECTS", real::PROJECTS);
    sync_exact::<Resources>("RESOURCES", real::RESOURCES);
    let ops: BTreeMap<String, Vec<Operation>> = sync_exact("OPERATIONS", real::OPERATIONS);
    assert!(!ops.is_empty());
    let op: Operation = sync_exact("OPERATION_WAIT", real::OPERATION_WAIT);
    assert!(op.status_code.is_final());
    assert_eq!(op.status, op.status_code.name());
}

#[test]
fn real_async_and_error_responses_round_trip_byte_for_byte() {
    for (name, sample) in [
        ("ASYNC_NO_RESOURCES", real::ASYNC_NO_RESOURCES),
        ("ASYNC_EXEC", real::ASYNC_EXEC),
    ] {
        let r: Response<Operation> = exact(name, sample);
        assert_eq!(r.r#type, ResponseType::Async);
        let rebuilt = Response::operation(&r.operation, r.metadata.clone());
        assert_eq!(serde_json::to_string(&rebuilt).unwrap(), sample, "{name}");
        assert_eq!(r.operation, format!("/1.0/operations/{}", r.metadata.id));
    }
    let r: Response<Operation> = serde_json::from_str(real::ASYNC_NO_RESOURCES).unwrap();
    assert_eq!((r.metadata.resources, r.metadata.metadata), (None, None));

    for (name, sample) in [
        ("ERROR_NOT_FOUND", real::ERROR_NOT_FOUND),
        ("ERROR_INTERNAL", real::ERROR_INTERNAL),
    ] {
        let r: Response = exact(name, sample);
        assert_eq!(r.r#type, ResponseType::Error);
        let code = u16::try_from(r.error_code).unwrap();
        let rebuilt = Response::error(code, r.error.clone());
        assert_eq!(serde_json::to_string(&rebuilt).unwrap(), sample, "{name}");
    }
}

#[test]
fn real_events_round_trip_byte_for_byte() {
    let e: Event<Operation> = exact("EVENT_OPERATION", real::EVENT_OPERATION);
    assert_eq!(e.r#type, EVENT_TYPE_OPERATION);
    let untyped: Event = serde_json::from_str(real::EVENT_OPERATION).unwrap();
    assert_eq!(untyped.operation().unwrap().unwrap(), e.metadata);
    assert!(untyped.lifecycle().is_none() && untyped.logging().is_none());
    let rebuilt = Event {
        location: e.location.clone(),
        ..Event::new(
            &e.r#type,
            e.timestamp.clone(),
            &e.project,
            e.metadata.clone(),
        )
    };
    assert_eq!(
        serde_json::to_string(&rebuilt).unwrap(),
        real::EVENT_OPERATION
    );

    let e: Event<Operation> = exact("EVENT_OPERATION_FAILED", real::EVENT_OPERATION_FAILED);
    assert_eq!(e.metadata.status_code, StatusCode::FAILURE);
    assert!(!e.metadata.err.is_empty());

    let e: Event<EventLifecycle> = exact("EVENT_LIFECYCLE", real::EVENT_LIFECYCLE);
    assert!(!e.metadata.context.is_empty());
    let e: Event<EventLifecycle> =
        exact("EVENT_LIFECYCLE_REQUESTOR", real::EVENT_LIFECYCLE_REQUESTOR);
    assert_eq!(e.metadata.requestor.expect("requestor").protocol, "unix");

    let e: Event<EventLogging> = exact("EVENT_LOGGING", real::EVENT_LOGGING);
    assert_eq!(
        (e.metadata.level.as_str(), e.project.as_str()),
        ("debug", "")
    );
    let untyped: Event = serde_json::from_str(real::EVENT_LOGGING).unwrap();
    assert_eq!(untyped.logging().unwrap().unwrap(), e.metadata);
}

#[test]
fn real_client_requests_round_trip_byte_for_byte() {
    let copy: InstancesPost = exact("REQ_INSTANCES_POST_COPY", real::REQ_INSTANCES_POST_COPY);
    assert_eq!(copy.source.r#type, "copy");
    let launch: InstancesPost = exact("REQ_INSTANCES_POST_LAUNCH", real::REQ_INSTANCES_POST_LAUNCH);
    assert_eq!(launch.devices["root"]["pool"], "bt");
    exact::<InstanceExecPost>("REQ_EXEC", real::REQ_EXEC);
    let pty: InstanceExecPost = exact("REQ_EXEC_PTY", real::REQ_EXEC_PTY);
    assert!(pty.interactive && pty.wait_for_websocket);
    let stop: InstanceStatePut = exact("REQ_STATE_STOP", real::REQ_STATE_STOP);
    assert_eq!((stop.action.as_str(), stop.timeout), ("stop", -1));
    let snap: InstanceSnapshotsPost = exact("REQ_SNAPSHOT", real::REQ_SNAPSHOT);
    assert_eq!(snap.expires_at, None);
    let mv: InstancePost = exact("REQ_RENAME", real::REQ_RENAME);
    assert_eq!(mv.target, None);
    exact::<ImageAliasesPost>("REQ_ALIAS", real::REQ_ALIAS);
    exact::<StoragePoolsPost>("REQ_POOL", real::REQ_POOL);
    exact::<ProfilePut>("REQ_PROFILE_PUT", real::REQ_PROFILE_PUT);
    exact::<InstancePut>("REQ_INSTANCE_PUT", real::REQ_INSTANCE_PUT);
}

/// Go clients send nil maps and slices as `null`; they decode as empty and go back out as
/// `{}`/`[]`.
#[test]
fn real_client_requests_with_nulls_decode_as_empty() {
    fn check<T: Serialize + DeserializeOwned>(name: &str, sample: &str, nulls: &[(&str, &str)]) {
        let t: T = serde_json::from_str(sample).unwrap_or_else(|e| panic!("{name}: decode: {e}"));
        let mut want = sample.to_owned();
        for (field, empty) in nulls {
            let null = format!("\"{field}\":null");
            assert!(want.contains(&null), "{name}: sample has no {null}");
            want = want.replace(&null, &format!("\"{field}\":{empty}"));
        }
        assert_eq!(serde_json::to_string(&t).unwrap(), want, "{name}");
    }
    check::<InstancesPost>(
        "REQ_LAUNCH_NULLS",
        real::REQ_LAUNCH_NULLS,
        &[("profiles", "[]")],
    );
    check::<ProfilesPost>(
        "REQ_PROFILE_CREATE_NULLS",
        real::REQ_PROFILE_CREATE_NULLS,
        &[("config", "{}"), ("devices", "{}")],
    );
    check::<NetworksPost>(
        "REQ_NETWORK_CREATE_NULLS",
        real::REQ_NETWORK_CREATE_NULLS,
        &[("config", "{}")],
    );
    check::<InstancePut>(
        "REQ_RESTORE_NULLS",
        real::REQ_RESTORE_NULLS,
        &[("config", "{}"), ("devices", "{}"), ("profiles", "[]")],
    );
}

// ---------------------------------------------------------------------------------------------
// Behaviour.

#[test]
fn writable_gives_what_the_put_type_reads_from_the_same_record() {
    fn check<T: DeserializeOwned, P: DeserializeOwned + PartialEq + std::fmt::Debug>(
        name: &str,
        sample: &str,
        writable: fn(&T) -> P,
    ) {
        let full: Response = serde_json::from_str(sample).unwrap();
        let record: T = full.metadata_as().unwrap();
        let put: P = full.metadata_as().unwrap();
        assert_eq!(writable(&record), put, "{name}");
    }
    check(
        "INSTANCE_STOPPED",
        real::INSTANCE_STOPPED,
        Instance::writable,
    );
    check("IMAGE", real::IMAGE, Image::writable);
    check("PROFILE", real::PROFILE, Profile::writable);
    check(
        "STORAGE_POOL_UNUSED",
        real::STORAGE_POOL_UNUSED,
        StoragePool::writable,
    );
    check("SERVER", real::SERVER, Server::writable);
    let net = r#"{"type":"sync","metadata":{"config":{"ipv4.address":"10.0.0.1/24"},"description":"d","name":"lxdbr0","type":"bridge","used_by":null,"managed":true,"status":"Created","locations":null}}"#;
    check("network", net, Network::writable);
    let proj = r#"{"type":"sync","metadata":{"config":{"features.images":"true"},"description":"d","name":"p","used_by":[]}}"#;
    check("project", proj, Project::writable);
    let vol = r#"{"type":"sync","metadata":{"config":{"size":"1GiB"},"description":"d","restore":"snap0","name":"v","type":"custom","used_by":[],"location":"none","content_type":"filesystem","project":"default","created_at":"0001-01-01T00:00:00Z"}}"#;
    check("volume", vol, StorageVolume::writable);
}

#[test]
fn decoding_is_lenient_like_go() {
    // Unknown fields are ignored; missing ones take zero values (Go's zero time for times).
    let i: Instance = serde_json::from_str(r#"{"name":"c1","future_field":{"x":1}}"#).unwrap();
    assert_eq!(i.name, "c1");
    assert!(i.config.is_empty() && i.profiles.is_empty());
    assert_eq!(i.created_at.as_str(), ZERO_TIME);
    // null for maps, lists, nested objects and times gives the empty value.
    let s: InstanceState = serde_json::from_str(
        r#"{"disk":null,"memory":null,"network":null,"cpu":null,"status_code":102}"#,
    )
    .unwrap();
    assert_eq!(
        (s.disk.len(), s.memory.usage, s.network, s.status_code),
        (0, 0, None, StatusCode::STOPPED)
    );
    let img: ImagePut = serde_json::from_str(r#"{"expires_at":null,"properties":null}"#).unwrap();
    assert!(img.expires_at.is_zero());
    // Go matches capitalised field names case-insensitively; LXD writes these capitalised.
    let r: ProjectStateResource = serde_json::from_str(r#"{"limit":10,"usage":4}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"Limit":10,"Usage":4}"#
    );
    let d: ServerStorageDriverInfo =
        serde_json::from_str(r#"{"name":"dir","Remote":false}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        r#"{"Name":"dir","Version":"","Remote":false}"#
    );
    // Wrong types are refused with the field named.
    let err = serde_json::from_str::<InstanceStatePut>(r#"{"timeout":"soon"}"#).unwrap_err();
    assert!(err.to_string().contains("invalid type"), "{err}");
}

#[test]
fn floats_are_written_like_go() {
    let dev = ResourcesUSBDevice {
        speed: 480.0,
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&dev).unwrap()["speed"].to_string(),
        "480"
    );
    let dev = ResourcesUSBDevice {
        speed: 1.5,
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&dev).unwrap()["speed"].to_string(),
        "1.5"
    );
}

#[test]
fn status_codes_and_names_are_lxds() {
    let all = [
        (100, "Operation created"),
        (101, "Started"),
        (102, "Stopped"),
        (103, "Running"),
        (104, "Cancelling"),
        (105, "Pending"),
        (106, "Starting"),
        (107, "Stopping"),
        (108, "Aborting"),
        (109, "Freezing"),
        (110, "Frozen"),
        (111, "Thawed"),
        (112, "Error"),
        (113, "Ready"),
        (200, "Success"),
        (400, "Failure"),
        (401, "Cancelled"),
    ];
    for (code, name) in all {
        assert_eq!(StatusCode(code).name(), name);
        assert_eq!(StatusCode::from_name(name), Some(StatusCode(code)));
        assert_eq!(StatusCode(code).is_final(), code >= 200, "{code}");
        assert_eq!(
            serde_json::to_string(&StatusCode(code)).unwrap(),
            code.to_string()
        );
    }
    assert_eq!(
        (StatusCode::RUNNING.0, StatusCode::SUCCESS.to_string()),
        (103, "Success".to_owned())
    );
    assert_eq!(
        StatusCode(999).name(),
        "",
        "unknown codes have no name, as in Go"
    );
    assert_eq!(StatusCode::from_name("Runing"), None);
    assert_eq!(Response::empty_sync().metadata, json!({}));
    assert_eq!(
        serde_json::to_string(&Response::empty_sync()).unwrap(),
        r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{}}"#
    );
}

#[test]
fn rfc3339_formats_like_go() {
    assert_eq!(rfc3339(-62_135_596_800, 0), ZERO_TIME);
    assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(1_616_529_600, 123_456_789),
        "2021-03-23T20:00:00.123456789Z"
    );
    assert_eq!(
        rfc3339(1_616_529_600, 100_000_000),
        "2021-03-23T20:00:00.1Z"
    );
    assert_eq!(
        rfc3339(1_616_529_600, 1_000_000_500),
        "2021-03-23T20:00:01.0000005Z"
    );
    assert_eq!(rfc3339(1_709_164_800, 0), "2024-02-29T00:00:00Z");
    assert_eq!(rfc3339(-1, 999_999_999), "1969-12-31T23:59:59.999999999Z");
    assert_eq!(rfc3339(253_402_300_799, 0), "9999-12-31T23:59:59Z");
    assert_eq!(Timestamp::default().as_str(), ZERO_TIME);
    assert!(
        Timestamp::default().is_zero() && Timestamp::from("0000-12-31T19:00:00-05:00").is_zero()
    );
    let now = Timestamp::now();
    let (secs, _) = now.to_unix().unwrap();
    assert!(secs > 1_600_000_000 && now.as_str().ends_with('Z'), "{now}");
}

#[test]
fn rfc3339_parses_what_go_writes() {
    // LXD writes local offsets; they name the same instant as UTC.
    let local = parse_rfc3339("2021-03-23T17:38:37.753398689-04:00").unwrap();
    assert_eq!(
        local,
        parse_rfc3339("2021-03-23T21:38:37.753398689Z").unwrap()
    );
    assert_eq!(rfc3339(local.0, local.1), "2021-03-23T21:38:37.753398689Z");
    assert_eq!(
        parse_rfc3339("2021-03-23T20:00:00+05:30").unwrap().0,
        1_616_529_600 - 19_800
    );
    assert_eq!(
        parse_rfc3339("2021-03-23T20:00:00.5Z").unwrap(),
        (1_616_529_600, 500_000_000)
    );
    assert_eq!(
        parse_rfc3339("2021-03-23T20:00:00.1234567891Z").unwrap().1,
        123_456_789
    );
    // Formatting and parsing agree across eras, leap years and fractions.
    let mut secs = -62_135_596_800i64;
    while secs < 253_402_300_799 {
        let nanos = u32::try_from(secs.rem_euclid(1_000_000_000)).unwrap();
        assert_eq!(
            parse_rfc3339(&rfc3339(secs, nanos)),
            Ok((secs, nanos)),
            "{secs}"
        );
        secs += 86_399 * 367 + 12_345;
    }
    for bad in [
        "",
        "2021-03-23",
        "2021-03-23 20:00:00Z",
        "2021-13-01T00:00:00Z",
        "2021-02-29T00:00:00Z",
        "2021-03-23T24:00:00Z",
        "2021-03-23T20:00:00",
        "2021-03-23T20:00:00.Z",
        "2021-03-23T20:00:00+0500",
        "2021-03-23T20:00:00+25:00",
        "2021-0a-23T20:00:00Z",
    ] {
        let err = parse_rfc3339(bad).expect_err(bad);
        assert_eq!(err.input, bad);
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

/// Bodies captured from LXD 5.0.2 (Debian 12's `lxd` 5.0.2-5+deb12u6) and its `lxc` client on
/// this machine, as compact JSON in the order LXD wrote the fields.
mod real {
    /// `GET /1.0` (api_extensions cut to the first six).
    pub const SERVER: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"config":{},"api_extensions":["storage_zfs_remove_snapshots","container_host_shutdown_timeout","container_stop_priority","container_syscall_filtering","auth_pki","container_last_used_at"],"api_status":"stable","api_version":"1.0","auth":"trusted","public":false,"auth_methods":["tls"],"environment":{"addresses":[],"architectures":["x86_64","i686"],"certificate":"-----BEGIN CERTIFICATE-----\nMIIB9jCCAX2gAwIBAgIQSqncEO6nCuaOmtXSO7XxOTAKBggqhkjOPQQDAzAwMRww\nGgYDVQQKExNsaW51eGNvbnRhaW5lcnMub3JnMRAwDgYDVQQDDAdyb290QHZtMB4X\nDTI2MTEyMjAwNTEzOFoXDTM2MTExOTAwNTEzOFowMDEcMBoGA1UEChMTbGludXhj\nb250YWluZXJzLm9yZzEQMA4GA1UEAwwHcm9vdEB2bTB2MBAGByqGSM49AgEGBSuB\nBAAiA2IABNEN6GbgUudXqH31jXkuwU0PN1T/USZn2ZicYHoPpw52wiw7P3hxNiqJ\nu0GxdGiU/R1sRiel5ZQPUaCyok5I8/4BepvmTi7a/eidMGPWVBH82VpzWsSF0z3q\neRGkBlTQqqNcMFowDgYDVR0PAQH/BAQDAgWgMBMGA1UdJQQMMAoGCCsGAQUFBwMB\nMAwGA1UdEwEB/wQCMAAwJQYDVR0RBB4wHIICdm2HBH8AAAGHEAAAAAAAAAAAAAAA\nAAAAAAEwCgYIKoZIzj0EAwMDZwAwZAIwZ/9KmJJOhBLh6SCVDHTo8CMLyz8/DRc5\ngzYz8RxYRm5vPeCKNHI6em4Y4dWLtfybAjAZCdaMRX5HMS534ZWGuMEJq60oq6h2\nfwHmE6TlEcVSmLQniQif26L5tJL0KHUY3Zo=\n-----END CERTIFICATE-----\n","certificate_fingerprint":"62188c9154c2d8abfccac61a4ffee750421d805c938369c28f23a09f8055374c","driver":"lxc","driver_version":"5.0.2","firewall":"nftables","kernel":"Linux","kernel_architecture":"x86_64","kernel_features":{"idmapped_mounts":"true","netnsid_getifaddrs":"true","seccomp_listener":"true","seccomp_listener_continue":"true","shiftfs":"false","uevent_injection":"true","unpriv_fscaps":"true"},"kernel_version":"6.18.44-fc-v657","lxc_features":{"cgroup2":"true","core_scheduling":"true","devpts_fd":"true","idmapped_mounts_v2":"true","mount_injection_file":"true","network_gateway_device_route":"true","network_ipvlan":"true","network_l2proxy":"true","network_phys_macvlan_mtu":"true","network_veth_router":"true","pidfd":"true","seccomp_allow_deny_syntax":"true","seccomp_notify":"true","seccomp_proxy_send_notify_fd":"true"},"os_name":"Debian GNU/Linux","os_version":"12","project":"default","server":"lxd","server_clustered":false,"server_event_mode":"full-mesh","server_name":"vm","server_pid":3742,"server_version":"5.0.2","storage":"btrfs | dir","storage_version":"6.2 | 1","storage_supported_drivers":[{"Name":"btrfs","Version":"6.2","Remote":false},{"Name":"dir","Version":"1","Remote":false}]}}}"#;

    /// `GET /1.0/instances/c1?recursion=1`: running, one snapshot, no backups.
    pub const INSTANCE_FULL: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"architecture":"x86_64","config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"5e925974-f989-455e-9963-13d2ec739b1b","volatile.idmap.base":"0","volatile.idmap.current":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.power":"RUNNING","volatile.uuid":"d5f46c52-0eff-4375-bfa9-2dfa0d8fde2a"},"devices":{},"ephemeral":false,"profiles":["default"],"stateful":false,"description":"","created_at":"2026-11-22T00:52:25.480219688Z","expanded_config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"5e925974-f989-455e-9963-13d2ec739b1b","volatile.idmap.base":"0","volatile.idmap.current":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.power":"RUNNING","volatile.uuid":"d5f46c52-0eff-4375-bfa9-2dfa0d8fde2a"},"expanded_devices":{"root":{"path":"/","pool":"dir","type":"disk"}},"name":"c1","status":"Running","status_code":103,"last_used_at":"2026-11-22T00:54:06.832948548Z","location":"none","type":"container","project":"default","backups":null,"state":{"status":"Running","status_code":103,"disk":{},"memory":{"usage":561152,"usage_peak":1343488,"swap_usage":0,"swap_usage_peak":0},"network":{"lo":{"addresses":[],"counters":{"bytes_received":0,"bytes_sent":0,"packets_received":0,"packets_sent":0,"errors_received":0,"errors_sent":0,"packets_dropped_outbound":0,"packets_dropped_inbound":0},"hwaddr":"","host_name":"","mtu":65536,"state":"down","type":"loopback"}},"pid":16336,"processes":2,"cpu":{"usage":10777095}},"snapshots":[{"expires_at":"0001-01-01T00:00:00Z","architecture":"x86_64","config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"5e925974-f989-455e-9963-13d2ec739b1b","volatile.idmap.base":"0","volatile.idmap.current":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.power":"RUNNING","volatile.uuid":"d5f46c52-0eff-4375-bfa9-2dfa0d8fde2a"},"created_at":"2026-11-22T00:54:05.15206656Z","devices":{},"ephemeral":false,"expanded_config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"5e925974-f989-455e-9963-13d2ec739b1b","volatile.idmap.base":"0","volatile.idmap.current":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.power":"RUNNING","volatile.uuid":"d5f46c52-0eff-4375-bfa9-2dfa0d8fde2a"},"expanded_devices":{"root":{"path":"/","pool":"dir","type":"disk"}},"last_used_at":"0001-01-01T00:00:00Z","name":"s1","profiles":["default"],"stateful":false,"size":-1}]}}"#;

    /// `GET /1.0/instances/c5`: a stopped container.
    pub const INSTANCE_STOPPED: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"architecture":"x86_64","config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.apply_template":"copy","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"c006f6e0-33f1-49e4-a1b4-71a36767bb3f","volatile.idmap.base":"0","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.uuid":"28b925c5-bf51-4340-b6ef-535d973d662e"},"devices":{},"ephemeral":false,"profiles":["default"],"stateful":false,"description":"","created_at":"2026-11-22T00:54:08.193352698Z","expanded_config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.apply_template":"copy","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"c006f6e0-33f1-49e4-a1b4-71a36767bb3f","volatile.idmap.base":"0","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.uuid":"28b925c5-bf51-4340-b6ef-535d973d662e"},"expanded_devices":{"root":{"path":"/","pool":"dir","type":"disk"}},"name":"c5","status":"Stopped","status_code":102,"last_used_at":"1970-01-01T00:00:00Z","location":"none","type":"container","project":"default"}}"#;

    /// `GET /1.0/instances?recursion=2`, cut to one stopped container.
    pub const INSTANCES_RECURSION2: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[{"architecture":"x86_64","config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.apply_template":"create","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"1f998c0d-30be-4f13-91cf-5f4002f9c7bd","volatile.idmap.base":"0","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[]","volatile.uuid":"c5e6c5b4-7ded-432e-8a2f-a137733c7e32"},"devices":{},"ephemeral":false,"profiles":["default"],"stateful":false,"description":"","created_at":"2026-11-22T00:52:30.227439752Z","expanded_config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.apply_template":"create","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"1f998c0d-30be-4f13-91cf-5f4002f9c7bd","volatile.idmap.base":"0","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[]","volatile.uuid":"c5e6c5b4-7ded-432e-8a2f-a137733c7e32"},"expanded_devices":{"root":{"path":"/","pool":"dir","type":"disk"}},"name":"c3","status":"Stopped","status_code":102,"last_used_at":"1970-01-01T00:00:00Z","location":"none","type":"container","project":"default","backups":null,"state":{"status":"Stopped","status_code":102,"disk":{},"memory":{"usage":0,"usage_peak":0,"swap_usage":0,"swap_usage_peak":0},"network":null,"pid":0,"processes":0,"cpu":{"usage":0}},"snapshots":null}]}"#;

    /// `GET /1.0/images/FINGERPRINT`.
    pub const IMAGE: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"auto_update":false,"properties":{"architecture":"x86_64","description":"busybox-static minimal (lxd-anchor)","os":"busybox","release":"v1.35.0"},"public":false,"expires_at":"1970-01-01T00:00:00Z","profiles":["default"],"aliases":[{"name":"bb","description":""},{"name":"bbalias","description":""}],"architecture":"x86_64","cached":false,"filename":"bb.tar.xz","fingerprint":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","size":886988,"type":"container","created_at":"2026-11-22T00:44:40Z","last_used_at":"2026-11-22T00:52:30.23295928Z","uploaded_at":"2026-11-22T00:51:48.380987511Z"}}"#;

    /// `GET /1.0/images/aliases/bb`.
    pub const IMAGE_ALIAS: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"description":"","target":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","name":"bb","type":"container"}}"#;

    /// `GET /1.0/profiles/default`.
    pub const PROFILE: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"config":{},"description":"Default LXD profile","devices":{},"name":"default","used_by":[]}}"#;

    /// `GET /1.0/networks?recursion=1`: unmanaged interfaces.
    pub const NETWORKS: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[{"config":{},"description":"","name":"lo","type":"loopback","used_by":[],"managed":false,"status":"","locations":null},{"config":{},"description":"","name":"ifb0","type":"unknown","used_by":null,"managed":false,"status":"","locations":null},{"config":{},"description":"","name":"ifb1","type":"unknown","used_by":null,"managed":false,"status":"","locations":null},{"config":{},"description":"","name":"eth0","type":"physical","used_by":null,"managed":false,"status":"","locations":null}]}"#;

    /// `GET /1.0/storage-pools/bt`: a pool nothing uses.
    pub const STORAGE_POOL_UNUSED: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"config":{"size":"10GiB","source":"/tmp/lxd-wire/lxd/disks/bt.img"},"description":"","name":"bt","driver":"btrfs","used_by":null,"status":"Created","locations":["none"]}}"#;

    /// `GET /1.0/storage-pools?recursion=1`.
    pub const STORAGE_POOLS: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[{"config":{"size":"10GiB","source":"/tmp/lxd-wire/lxd/disks/bt.img"},"description":"","name":"bt","driver":"btrfs","used_by":["/1.0/images/7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","/1.0/instances/c2"],"status":"Created","locations":["none"]},{"config":{"source":"/tmp/lxd-wire/lxd/storage-pools/dir"},"description":"","name":"dir","driver":"dir","used_by":["/1.0/instances/c1","/1.0/instances/c1/snapshots/s1","/1.0/instances/c3","/1.0/profiles/default"],"status":"Created","locations":["none"]}]}"#;

    /// `GET /1.0/storage-pools/dir/volumes?recursion=1`.
    pub const STORAGE_VOLUMES: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[{"config":{},"description":"","name":"c1","type":"container","used_by":["/1.0/instances/c1"],"location":"none","content_type":"filesystem","project":"default","created_at":"0001-01-01T00:00:00Z"},{"config":{},"description":"","name":"c1/s1","type":"container","used_by":["/1.0/instances/c1/snapshots/s1"],"location":"none","content_type":"filesystem","project":"default","created_at":"0001-01-01T00:00:00Z"},{"config":{},"description":"","name":"c3","type":"container","used_by":["/1.0/instances/c3"],"location":"none","content_type":"filesystem","project":"default","created_at":"0001-01-01T00:00:00Z"}]}"#;

    /// `GET /1.0/storage-pools/dir/resources`.
    pub const POOL_RESOURCES: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"space":{"used":17911771136,"total":270553174016},"inodes":{"used":434686,"total":16777216}}}"#;

    /// `GET /1.0/projects?recursion=1`.
    pub const PROJECTS: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":[{"config":{"features.images":"true","features.networks":"true","features.profiles":"true","features.storage.volumes":"true"},"description":"Default LXD project","name":"default","used_by":["/1.0/instances/c1","/1.0/instances/c2","/1.0/instances/c3","/1.0/profiles/default","/1.0/profiles/p1","/1.0/images/7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","/1.0/images/e70a7c71707b09e27b4b8c14884d05d8dd4aad07269579458a2fd9354fd60e39"]}]}"#;

    /// `GET /1.0/resources`.
    pub const RESOURCES: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"cpu":{"architecture":"x86_64","sockets":[{"name":"AMD EPYC","vendor":"AuthenticAMD","socket":0,"cache":[{"level":1,"type":"Data","size":49152},{"level":1,"type":"Instruction","size":32768},{"level":2,"type":"Unified","size":1048576},{"level":3,"type":"Unified","size":33554432}],"cores":[{"core":0,"die":0,"threads":[{"id":0,"numa_node":0,"thread":0,"online":true,"isolated":false}]},{"core":1,"die":0,"threads":[{"id":1,"numa_node":0,"thread":0,"online":true,"isolated":false}]}]}],"total":2},"memory":{"nodes":[{"numa_node":0,"hugepages_used":0,"hugepages_total":0,"used":885161984,"total":25769803776}],"hugepages_total":0,"hugepages_used":0,"hugepages_size":2097152,"used":1042993152,"total":25769803776},"gpu":{"cards":[],"total":0},"network":{"cards":[{"driver":"virtio_net","driver_version":"6.18.44-fc-v657","ports":[{"id":"eth0","address":"02:fc:00:00:00:01","port":0,"protocol":"ethernet","port_type":"other","transceiver_type":"internal","auto_negotiation":false,"link_detected":true}],"numa_node":0,"pci_address":"0000:00:03.0","vendor_id":"1af4","product_id":"0001"}],"total":1},"storage":{"disks":[{"id":"vda","device":"254:0","type":"virtio","read_only":false,"size":274877906944,"removable":false,"numa_node":0,"block_size":0,"rpm":1,"device_id":"","partitions":[],"pci_address":"0000:00:02.0"}],"total":1},"usb":{"devices":[],"total":0},"pci":{"devices":[{"driver":"","driver_version":"","numa_node":0,"pci_address":"0000:00:00.0","vendor":"","vendor_id":"8086","product":"","product_id":"0d57","iommu_group":0,"vpd":{}},{"driver":"virtio-pci","driver_version":"6.18.44-fc-v657","numa_node":0,"pci_address":"0000:00:01.0","vendor":"","vendor_id":"1af4","product":"","product_id":"1045","iommu_group":0,"vpd":{}},{"driver":"virtio-pci","driver_version":"6.18.44-fc-v657","numa_node":0,"pci_address":"0000:00:02.0","vendor":"","vendor_id":"1af4","product":"","product_id":"1042","iommu_group":0,"vpd":{}},{"driver":"virtio-pci","driver_version":"6.18.44-fc-v657","numa_node":0,"pci_address":"0000:00:03.0","vendor":"","vendor_id":"1af4","product":"","product_id":"1041","iommu_group":0,"vpd":{}},{"driver":"virtio-pci","driver_version":"6.18.44-fc-v657","numa_node":0,"pci_address":"0000:00:04.0","vendor":"","vendor_id":"1af4","product":"","product_id":"1053","iommu_group":0,"vpd":{}},{"driver":"virtio-pci","driver_version":"6.18.44-fc-v657","numa_node":0,"pci_address":"0000:00:05.0","vendor":"","vendor_id":"1af4","product":"","product_id":"1044","iommu_group":0,"vpd":{}}],"total":6},"system":{"uuid":"","vendor":"","product":"","family":"","version":"","sku":"","serial":"","type":"container","firmware":null,"chassis":null,"motherboard":null}}}"#;

    /// `GET /1.0/operations?recursion=1` while an exec runs.
    pub const OPERATIONS: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"running":[{"id":"347ef697-57aa-45e0-9e16-e008a3a32ddf","class":"websocket","description":"Executing command","created_at":"2026-11-22T00:55:17.234602247Z","updated_at":"2026-11-22T00:55:17.234602247Z","status":"Running","status_code":103,"resources":{"containers":["/1.0/containers/c1"],"instances":["/1.0/instances/c1"]},"metadata":{"command":["sleep","4"],"environment":{"HOME":"/root","LANG":"C.UTF-8","PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","TERM":"xterm","USER":"root"},"fds":{"0":"04338cf854135b27726284d3904cfd2ede0b9d5b8619351997c95c640bb1ae8f","1":"f26bb89965961fd810866cb9d17a8e49c3154387f30080e9f4718d3e79449851","2":"ed94447494f92cda6e8b1d90b465ea9820b4d561086c2813dfef9039b1047d33","control":"22dcd2cfda3f7baefc2a892ee4e61e513061e31f2281be9d4e19049aa2d261fd"},"interactive":false},"may_cancel":false,"err":"","location":"none"}]}}"#;

    /// `GET /1.0/operations/UUID/wait`: a finished exec.
    pub const OPERATION_WAIT: &str = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"id":"347ef697-57aa-45e0-9e16-e008a3a32ddf","class":"websocket","description":"Executing command","created_at":"2026-11-22T00:55:17.234602247Z","updated_at":"2026-11-22T00:55:21.276958941Z","status":"Success","status_code":200,"resources":{"containers":["/1.0/containers/c1"],"instances":["/1.0/instances/c1"]},"metadata":{"command":["sleep","4"],"environment":{"HOME":"/root","LANG":"C.UTF-8","PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","TERM":"xterm","USER":"root"},"fds":{"0":"04338cf854135b27726284d3904cfd2ede0b9d5b8619351997c95c640bb1ae8f","1":"f26bb89965961fd810866cb9d17a8e49c3154387f30080e9f4718d3e79449851","2":"ed94447494f92cda6e8b1d90b465ea9820b4d561086c2813dfef9039b1047d33","control":"22dcd2cfda3f7baefc2a892ee4e61e513061e31f2281be9d4e19049aa2d261fd"},"interactive":false,"return":0},"may_cancel":false,"err":"","location":"none"}}"#;

    /// `POST /1.0/images`: async, operation without resources or metadata.
    pub const ASYNC_NO_RESOURCES: &str = r#"{"type":"async","status":"Operation created","status_code":100,"operation":"/1.0/operations/6522e1b8-60c9-43ff-b61c-8d5e3bcb67c1","error_code":0,"error":"","metadata":{"id":"6522e1b8-60c9-43ff-b61c-8d5e3bcb67c1","class":"task","description":"Downloading image","created_at":"2026-11-22T00:52:08.269611815Z","updated_at":"2026-11-22T00:52:08.269611815Z","status":"Running","status_code":103,"resources":null,"metadata":null,"may_cancel":false,"err":"","location":"none"}}"#;

    /// `POST /1.0/instances/c1/exec`: async websocket operation.
    pub const ASYNC_EXEC: &str = r#"{"type":"async","status":"Operation created","status_code":100,"operation":"/1.0/operations/e497ca9d-9c37-4ad7-a52d-ab3641d3812f","error_code":0,"error":"","metadata":{"id":"e497ca9d-9c37-4ad7-a52d-ab3641d3812f","class":"websocket","description":"Executing command","created_at":"2026-11-22T00:53:08.476183649Z","updated_at":"2026-11-22T00:53:08.476183649Z","status":"Running","status_code":103,"resources":{"containers":["/1.0/containers/c1"],"instances":["/1.0/instances/c1"]},"metadata":{"command":["cat"],"environment":{"HOME":"/root","LANG":"C.UTF-8","PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","TERM":"xterm","USER":"root"},"fds":{"0":"7652d00a842ce3a5f048d211bec3cc2d02b7255a921388352f6baa921b5b8edc","1":"6e1e9bc2a4c10d13354cd37cb2bb2ed2d4cbbb955fe08c7e16b75d4bfca37ca9","2":"a34cb1dc2904233234936cb7e3527898dc85c4350eed327e86dce3e8b58c377d","control":"b88eae689a598e849108fce889f58ab297088316bf43765170c4a7747984d091"},"interactive":false},"may_cancel":false,"err":"","location":"none"}}"#;

    /// A 404 error.
    pub const ERROR_NOT_FOUND: &str = r#"{"type":"error","status":"","status_code":0,"operation":"","error_code":404,"error":"Instance not found","metadata":null}"#;

    /// A 500 error.
    pub const ERROR_INTERNAL: &str = r#"{"type":"error","status":"","status_code":0,"operation":"","error_code":500,"error":"open : no such file or directory","metadata":null}"#;

    /// An `operation` event (exec starting).
    pub const EVENT_OPERATION: &str = r#"{"type":"operation","timestamp":"2026-11-22T00:53:08.477584882Z","metadata":{"id":"e497ca9d-9c37-4ad7-a52d-ab3641d3812f","class":"websocket","description":"Executing command","created_at":"2026-11-22T00:53:08.476183649Z","updated_at":"2026-11-22T00:53:08.476183649Z","status":"Pending","status_code":105,"resources":{"containers":["/1.0/containers/c1"],"instances":["/1.0/instances/c1"]},"metadata":{"command":["cat"],"environment":{"HOME":"/root","LANG":"C.UTF-8","PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","TERM":"xterm","USER":"root"},"fds":{"0":"7652d00a842ce3a5f048d211bec3cc2d02b7255a921388352f6baa921b5b8edc","1":"6e1e9bc2a4c10d13354cd37cb2bb2ed2d4cbbb955fe08c7e16b75d4bfca37ca9","2":"a34cb1dc2904233234936cb7e3527898dc85c4350eed327e86dce3e8b58c377d","control":"b88eae689a598e849108fce889f58ab297088316bf43765170c4a7747984d091"},"interactive":false},"may_cancel":false,"err":"","location":"none"},"location":"none","project":"default"}"#;

    /// An `operation` event for a failed task.
    pub const EVENT_OPERATION_FAILED: &str = r#"{"type":"operation","timestamp":"2026-11-22T00:55:33.911498302Z","metadata":{"id":"9de4efb3-ea54-48e9-99c3-77147acb6d15","class":"task","description":"Updating instance","created_at":"2026-11-22T00:55:33.909683368Z","updated_at":"2026-11-22T00:55:33.909683368Z","status":"Failure","status_code":400,"resources":{"containers":["/1.0/containers/c1"],"instances":["/1.0/instances/c1"]},"metadata":null,"may_cancel":false,"err":"Invalid config: Unknown configuration key: no.such.key","location":"none"},"location":"none","project":"default"}"#;

    /// A `lifecycle` event with context.
    pub const EVENT_LIFECYCLE: &str = r#"{"type":"lifecycle","timestamp":"2026-11-22T00:54:08.199465622Z","metadata":{"action":"instance-created","source":"/1.0/instances/c4","context":{"storage-pool":"dir","type":"container"}},"location":"none","project":"default"}"#;

    /// A `lifecycle` event with a requestor.
    pub const EVENT_LIFECYCLE_REQUESTOR: &str = r#"{"type":"lifecycle","timestamp":"2026-11-22T00:52:15.213227278Z","metadata":{"action":"image-deleted","source":"/1.0/images/820d2054089f815fb4db8815e15cdc390fc469996d4fc02fcb95dd2b83c23555","requestor":{"username":"root","protocol":"unix","address":"@"}},"location":"none","project":"default"}"#;

    /// A `logging` event (no project).
    pub const EVENT_LOGGING: &str = r#"{"type":"logging","timestamp":"2026-11-22T00:53:08.468515761Z","metadata":{"message":"Event listener server handler started","level":"debug","context":{"id":"03120cae-57c7-4572-a939-d5639b38e457","local":"/tmp/lxd-wire/lxd/unix.socket","remote":"@"}},"location":"none"}"#;

    /// `lxc copy c1 c4`.
    pub const REQ_INSTANCES_POST_COPY: &str = r#"{"architecture":"x86_64","config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d"},"devices":{},"ephemeral":false,"profiles":["default"],"stateful":false,"description":"","name":"c4","source":{"type":"copy","certificate":"","base-image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","source":"c1","live":true,"allow_inconsistent":false},"instance_type":"","type":"container"}"#;

    /// `lxc launch bb c2 -s bt -c limits.memory=64MiB`.
    pub const REQ_INSTANCES_POST_LAUNCH: &str = r#"{"architecture":"","config":{"limits.memory":"64MiB"},"devices":{"root":{"path":"/","pool":"bt","type":"disk"}},"ephemeral":false,"profiles":["default"],"stateful":false,"description":"","name":"c2","source":{"type":"image","certificate":"","fingerprint":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","allow_inconsistent":false},"instance_type":"","type":"container"}"#;

    /// `lxc exec c1 --cwd /tmp --env FOO=bar -- sh -c ...`.
    pub const REQ_EXEC: &str = r#"{"command":["sh","-c","echo $FOO; pwd"],"wait-for-websocket":true,"interactive":false,"environment":{"FOO":"bar","TERM":"xterm"},"width":0,"height":0,"record-output":false,"user":0,"group":0,"cwd":"/tmp"}"#;

    /// `lxc exec c1 -- sh` on a terminal.
    pub const REQ_EXEC_PTY: &str = r#"{"command":["sh"],"wait-for-websocket":true,"interactive":true,"environment":{"TERM":"xterm"},"width":100,"height":30,"record-output":false,"user":0,"group":0,"cwd":""}"#;

    /// `lxc stop c1`.
    pub const REQ_STATE_STOP: &str =
        r#"{"action":"stop","timeout":-1,"force":false,"stateful":false}"#;

    /// `lxc snapshot c1 s1`.
    pub const REQ_SNAPSHOT: &str = r#"{"name":"s1","stateful":false,"expires_at":null}"#;

    /// `lxc move c4 c5`.
    pub const REQ_RENAME: &str = r#"{"name":"c5","migration":false,"live":false,"instance_only":false,"container_only":false,"target":null,"pool":"","project":"","allow_inconsistent":false}"#;

    /// `lxc image alias create bbalias bb`.
    pub const REQ_ALIAS: &str = r#"{"description":"","target":"bb","name":"bbalias","type":""}"#;

    /// A pool from `lxd init --preseed`.
    pub const REQ_POOL: &str = r#"{"config":{},"description":"","name":"dir","driver":"dir"}"#;

    /// `lxc profile edit p1`.
    pub const REQ_PROFILE_PUT: &str =
        r#"{"config":{"limits.cpu":"1"},"description":"test profile","devices":{}}"#;

    /// `lxc config set c1 limits.memory=128MiB`.
    pub const REQ_INSTANCE_PUT: &str = r#"{"architecture":"x86_64","config":{"image.architecture":"x86_64","image.description":"busybox-static minimal (lxd-anchor)","image.os":"busybox","image.release":"v1.35.0","limits.memory":"128MiB","volatile.base_image":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","volatile.cloud-init.instance-id":"5e925974-f989-455e-9963-13d2ec739b1b","volatile.idmap.base":"0","volatile.idmap.current":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.idmap.next":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.idmap":"[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001},{\"Isuid\":false,\"Isgid\":true,\"Hostid\":100000,\"Nsid\":0,\"Maprange\":10000001}]","volatile.last_state.power":"RUNNING","volatile.uuid":"d5f46c52-0eff-4375-bfa9-2dfa0d8fde2a"},"devices":{},"ephemeral":false,"profiles":["default"],"stateful":false,"description":""}"#;

    /// `lxc launch bb c1`: `profiles` is `null`.
    pub const REQ_LAUNCH_NULLS: &str = r#"{"architecture":"","config":{},"devices":{},"ephemeral":false,"profiles":null,"stateful":false,"description":"","name":"c1","source":{"type":"image","certificate":"","fingerprint":"7cf33bf8774d7f195423a079f60acb3691863645dbb61aaa8f7d9b7bb50d0c7d","allow_inconsistent":false},"instance_type":"","type":"container"}"#;

    /// `lxc profile create p1`: `config` and `devices` are `null`.
    pub const REQ_PROFILE_CREATE_NULLS: &str =
        r#"{"config":null,"description":"","devices":null,"name":"p1"}"#;

    /// `lxd init --auto` network: `config` is `null`.
    pub const REQ_NETWORK_CREATE_NULLS: &str =
        r#"{"config":null,"description":"","name":"lxdbr0","type":""}"#;

    /// `lxc restore c1 s1`: `config`, `devices`, `profiles` are `null`.
    pub const REQ_RESTORE_NULLS: &str = r#"{"architecture":"","config":null,"devices":null,"ephemeral":false,"profiles":null,"restore":"c1/s1","stateful":false,"description":""}"#;
}
