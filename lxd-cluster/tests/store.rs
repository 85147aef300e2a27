//! The sqlite store on real database files: every record round-trips, batches are atomic,
//! errors name the object, the schema follows LXD's and migrates, raw SQL works on both
//! databases.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{ensure, Result};
use common::*;
use lxd_cluster::{Error, SqliteStore, GLOBAL_SCHEMA_VERSION, LOCAL_SCHEMA_VERSION};
use lxd_core::store::{
    ClusterStore, Database, ImageAliasRecord, InstanceRecord, InstanceType, NodeRecord,
    SnapshotRecord, StoreError, StoreOp, VolumeType,
};

#[tokio::test]
async fn fresh_database_is_seeded_like_lxd() -> Result<()> {
    let dir = TempDir::new("seed")?;
    let store = open(&dir).await?;
    ensure!(dir.global().exists() && dir.local().exists());

    let projects = store.projects().await?;
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].name, "default");
    assert_eq!(projects[0].description, "Default LXD project");
    for f in [
        "features.images",
        "features.profiles",
        "features.storage.volumes",
    ] {
        assert_eq!(
            projects[0].config.get(f).map(String::as_str),
            Some("true"),
            "{f}"
        );
    }
    let profiles = store.profiles("default").await?;
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].name, "default");
    assert_eq!(profiles[0].description, "Default LXD profile");
    assert!(profiles[0].devices.is_empty() && profiles[0].config.is_empty());

    let nodes = store.nodes().await?;
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].name, "none");
    assert_eq!(nodes[0].address, "", "0.0.0.0 reads as not clustered");
    assert_eq!(nodes[0].schema, i64::from(GLOBAL_SCHEMA_VERSION));
    assert_eq!(nodes[0].architecture, std::env::consts::ARCH);
    assert!(nodes[0].heartbeat > 1_600_000_000, "{}", nodes[0].heartbeat);
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT id, name, address FROM nodes"
        )
        .await?,
        vec![strings(&["1", "none", "0.0.0.0"])]
    );
    assert!(store.config().await?.is_empty());
    assert!(store.instances(None).await?.is_empty());
    assert!(store.pools().await?.is_empty());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn projects_profiles_config_and_nodes_round_trip() -> Result<()> {
    let dir = TempDir::new("projects")?;
    let store = open(&dir).await?;
    store
        .apply(vec![
            StoreOp::SetConfig {
                key: "core.https_address".into(),
                value: Some("127.0.0.1:8443".into()),
            },
            StoreOp::SetConfig {
                key: "images.auto_update_interval".into(),
                value: Some("6".into()),
            },
            StoreOp::CreateProject(project("zeta")),
            StoreOp::CreateProject(project("alpha")),
            StoreOp::CreateProfile(profile("alpha", "web")),
        ])
        .await?;
    assert_eq!(
        store.config().await?,
        map(&[
            ("core.https_address", "127.0.0.1:8443"),
            ("images.auto_update_interval", "6")
        ])
    );
    store
        .apply(vec![StoreOp::SetConfig {
            key: "images.auto_update_interval".into(),
            value: None,
        }])
        .await?;
    assert_eq!(
        store.config().await?,
        map(&[("core.https_address", "127.0.0.1:8443")])
    );

    assert_eq!(store.project("alpha").await?, project("alpha"));
    let names: Vec<_> = store
        .projects()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["alpha", "default", "zeta"]);
    // features.profiles gives a new project its default profile, as LXD does.
    let profiles = store.profiles("alpha").await?;
    assert_eq!(
        profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["default", "web"]
    );
    assert_eq!(
        profiles[0].description,
        "Default LXD profile for project alpha"
    );
    assert_eq!(
        store.profile("alpha", "web").await?,
        profile("alpha", "web")
    );

    let mut updated = project("alpha");
    updated.description = "changed".into();
    updated.config.remove("limits.instances");
    let mut web = profile("alpha", "web");
    web.description = "new".into();
    web.config = map(&[("limits.cpu", "1")]);
    web.devices.remove("eth0");
    store
        .apply(vec![
            StoreOp::UpdateProject(updated.clone()),
            StoreOp::UpdateProfile(web.clone()),
            StoreOp::RenameProfile {
                project: "alpha".into(),
                name: "web".into(),
                new_name: "www".into(),
            },
        ])
        .await?;
    assert_eq!(store.project("alpha").await?, updated);
    web.name = "www".into();
    assert_eq!(store.profile("alpha", "www").await?, web);
    let e = store.profile("alpha", "web").await.unwrap_err();
    assert!(is_not_found(&e, "Profile", "web"), "{e}");

    let node = NodeRecord {
        name: "host1".into(),
        description: "this host".into(),
        address: "127.0.0.1:8443".into(),
        schema: 4,
        api_extensions: 300,
        heartbeat: 1_700_000_123,
        architecture: "aarch64".into(),
    };
    store.apply(vec![StoreOp::PutNode(node.clone())]).await?;
    assert_eq!(store.nodes().await?, vec![node]);

    store
        .apply(vec![
            StoreOp::DeleteProfile {
                project: "alpha".into(),
                name: "www".into(),
            },
            StoreOp::DeleteProject {
                name: "alpha".into(),
            },
        ])
        .await?;
    let e = store.project("alpha").await.unwrap_err();
    assert!(is_not_found(&e, "Project", "alpha"), "{e}");
    let e = store.profiles("alpha").await.unwrap_err();
    assert!(is_not_found(&e, "Project", "alpha"), "{e}");
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn instances_and_snapshots_round_trip() -> Result<()> {
    let dir = TempDir::new("instances")?;
    let store = open(&dir).await?;
    let c2 = instance("default", "c2", &["web", "default"]);
    let mut c1 = instance("default", "c1", &["default"]);
    c1.instance_type = InstanceType::VirtualMachine;
    c1.architecture = "aarch64".into();
    c1.ephemeral = true;
    c1.last_used_at = 0;
    store
        .apply(vec![
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreateInstance(c2.clone()),
            StoreOp::CreateInstance(c1.clone()),
            StoreOp::CreateSnapshot(snapshot("default", "c2", "snap1", 1_700_001_000)),
            StoreOp::CreateSnapshot(snapshot("default", "c2", "snap0", 1_700_000_900)),
        ])
        .await?;
    assert_eq!(store.instance("default", "c2").await?, c2);
    assert_eq!(store.instance("default", "c1").await?, c1);
    assert_eq!(
        store.instances(Some("default")).await?,
        vec![c1.clone(), c2.clone()]
    );
    assert_eq!(store.instances(None).await?, vec![c1.clone(), c2.clone()]);

    let snaps = store.snapshots("default", "c2").await?;
    assert_eq!(
        snaps,
        vec![
            snapshot("default", "c2", "snap0", 1_700_000_900),
            snapshot("default", "c2", "snap1", 1_700_001_000)
        ],
        "oldest first"
    );
    assert_eq!(
        store.snapshot("default", "c2", "snap1").await?,
        snapshot("default", "c2", "snap1", 1_700_001_000)
    );
    let e = store.snapshot("default", "c2", "nope").await.unwrap_err();
    assert!(is_not_found(&e, "Snapshot", "c2/nope"), "{e}");

    // Update replaces everything; SetInstanceConfig merges.
    let mut c2b = c2.clone();
    c2b.profiles = vec!["default".into()];
    c2b.devices.remove("gpu0");
    c2b.config.insert("limits.cpu".into(), "2".into());
    c2b.description = "updated".into();
    c2b.last_used_at = 1_700_009_999;
    store
        .apply(vec![StoreOp::UpdateInstance(c2b.clone())])
        .await?;
    assert_eq!(store.instance("default", "c2").await?, c2b);
    let changes: BTreeMap<String, Option<String>> = [
        ("limits.cpu".to_string(), None),
        ("limits.memory".to_string(), Some("1GiB".to_string())),
        ("image.os".to_string(), Some("Ubuntu".to_string())),
    ]
    .into_iter()
    .collect();
    store
        .apply(vec![StoreOp::SetInstanceConfig {
            project: "default".into(),
            name: "c2".into(),
            changes,
        }])
        .await?;
    let got = store.instance("default", "c2").await?;
    assert_eq!(
        got.config,
        map(&[
            ("image.os", "Ubuntu"),
            ("limits.memory", "1GiB"),
            ("security.privileged", "false"),
            ("volatile.base_image", "abcd"),
        ])
    );
    // Snapshots are not touched by updates of their instance.
    assert_eq!(store.snapshots("default", "c2").await?, snaps);

    store
        .apply(vec![
            StoreOp::RenameSnapshot {
                project: "default".into(),
                instance: "c2".into(),
                name: "snap0".into(),
                new_name: "first".into(),
            },
            StoreOp::DeleteSnapshot {
                project: "default".into(),
                instance: "c2".into(),
                name: "snap1".into(),
            },
        ])
        .await?;
    let names: Vec<_> = store
        .snapshots("default", "c2")
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["first"]);

    // A renamed profile shows under its new name in the instances that use it.
    store
        .apply(vec![
            StoreOp::UpdateInstance(c2.clone()),
            StoreOp::RenameProfile {
                project: "default".into(),
                name: "web".into(),
                new_name: "www".into(),
            },
        ])
        .await?;
    assert_eq!(
        store.instance("default", "c2").await?.profiles,
        ["www", "default"]
    );

    store
        .apply(vec![StoreOp::DeleteInstance {
            project: "default".into(),
            name: "c2".into(),
        }])
        .await?;
    let e = store.instance("default", "c2").await.unwrap_err();
    assert!(is_not_found(&e, "Instance", "c2"), "{e}");
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT COUNT(*) FROM instances_snapshots"
        )
        .await?,
        vec![strings(&["0"])],
        "snapshots go with their instance"
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn instance_in_project_without_profiles_feature_uses_default_projects_profiles() -> Result<()>
{
    let dir = TempDir::new("profilesfeature")?;
    let store = open(&dir).await?;
    let mut plain = project("plain");
    plain.config = map(&[("features.profiles", "false")]);
    store
        .apply(vec![
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreateProject(plain),
            StoreOp::CreateInstance(instance("plain", "c1", &["default", "web"])),
        ])
        .await?;
    assert!(store.profiles("plain").await?.is_empty());
    assert_eq!(
        store.instance("plain", "c1").await?,
        instance("plain", "c1", &["default", "web"])
    );
    let e = store
        .apply(vec![StoreOp::DeleteProfile {
            project: "default".into(),
            name: "web".into(),
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::InUse { kind: "Profile", name, reason }
            if name == "web" && reason.contains("c1 (project plain)")),
        "{e}"
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn images_and_aliases_round_trip() -> Result<()> {
    let dir = TempDir::new("images")?;
    let store = open(&dir).await?;
    let a = image("default", &fingerprint("aa11"));
    let mut b = image("default", &fingerprint("bb22"));
    b.image_type = "virtual-machine".into();
    b.cached = true;
    b.public = false;
    b.expires_at = 1_800_000_000;
    b.last_used_at = 0;
    b.properties.clear();
    let alias = ImageAliasRecord {
        project: "default".into(),
        name: "debian/12".into(),
        fingerprint: a.fingerprint.clone(),
        description: "Debian 12".into(),
    };
    store
        .apply(vec![
            StoreOp::CreateImage(b.clone()),
            StoreOp::CreateImage(a.clone()),
            StoreOp::CreateAlias(alias.clone()),
        ])
        .await?;
    assert_eq!(store.images("default").await?, vec![a.clone(), b.clone()]);
    assert_eq!(store.image("default", &a.fingerprint).await?, a);
    assert_eq!(store.image("default", "bb").await?, b);
    assert_eq!(store.aliases("default").await?, vec![alias.clone()]);
    assert_eq!(store.alias("default", "debian/12").await?, alias);

    let mut a2 = a.clone();
    a2.size = 42;
    a2.properties = map(&[("os", "Alpine")]);
    a2.auto_update = false;
    let mut alias2 = alias.clone();
    alias2.fingerprint = b.fingerprint.clone();
    alias2.description = "now b".into();
    store
        .apply(vec![
            StoreOp::UpdateImage(a2.clone()),
            StoreOp::UpdateAlias(alias2.clone()),
            StoreOp::RenameAlias {
                project: "default".into(),
                name: "debian/12".into(),
                new_name: "b".into(),
            },
            StoreOp::CreateAlias(ImageAliasRecord {
                name: "a".into(),
                ..alias.clone()
            }),
        ])
        .await?;
    assert_eq!(store.image("default", "aa").await?, a2);
    alias2.name = "b".into();
    assert_eq!(store.alias("default", "b").await?, alias2);
    store
        .apply(vec![StoreOp::DeleteAlias {
            project: "default".into(),
            name: "b".into(),
        }])
        .await?;
    assert_eq!(
        store
            .aliases("default")
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect::<Vec<_>>(),
        ["a"]
    );

    // DeleteImage removes its aliases.
    store
        .apply(vec![StoreOp::DeleteImage {
            project: "default".into(),
            fingerprint: a.fingerprint.clone(),
        }])
        .await?;
    assert!(store.aliases("default").await?.is_empty());
    assert_eq!(store.images("default").await?, vec![b]);
    let e = store.alias("default", "a").await.unwrap_err();
    assert!(is_not_found(&e, "Image alias", "a"), "{e}");
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn image_prefix_lookup() -> Result<()> {
    let dir = TempDir::new("prefix")?;
    let store = open(&dir).await?;
    let one = fingerprint("abcd1");
    let two = fingerprint("abce2");
    store
        .apply(vec![
            StoreOp::CreateImage(image("default", &one)),
            StoreOp::CreateImage(image("default", &two)),
        ])
        .await?;
    assert_eq!(store.image("default", "abcd").await?.fingerprint, one);
    assert_eq!(store.image("default", &two).await?.fingerprint, two);
    let e = store.image("default", "abc").await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("More than one image") && m.contains("abc")),
        "{e}"
    );
    let e = store.image("default", "ffff").await.unwrap_err();
    assert!(is_not_found(&e, "Image", "ffff"), "{e}");
    let e = store.image("default", "").await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    // Wildcards are not patterns.
    let e = store.image("default", "ab%").await.unwrap_err();
    assert!(is_not_found(&e, "Image", "ab%"), "{e}");
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn storage_round_trips() -> Result<()> {
    let dir = TempDir::new("storage")?;
    let store = open(&dir).await?;
    let custom = volume("p1", "default", VolumeType::Custom, "data");
    let mut block = volume("p1", "default", VolumeType::VirtualMachine, "vm1");
    block.content_type = "block".into();
    let image_vol = volume("p1", "default", VolumeType::Image, &fingerprint("aa"));
    store
        .apply(vec![
            StoreOp::CreatePool(pool("p1")),
            StoreOp::CreatePool(pool("p0")),
            StoreOp::CreateVolume(custom.clone()),
            StoreOp::CreateVolume(block.clone()),
            StoreOp::CreateVolume(image_vol.clone()),
            StoreOp::CreateVolumeSnapshot(volume_snapshot("data", "s1")),
            StoreOp::CreateVolumeSnapshot(volume_snapshot("data", "s0")),
        ])
        .await?;
    assert_eq!(store.pool("p1").await?, pool("p1"));
    assert_eq!(store.pools().await?, vec![pool("p0"), pool("p1")]);
    assert_eq!(
        store.volumes("p1").await?,
        vec![image_vol.clone(), custom.clone(), block.clone()]
    );
    assert!(store.volumes("p0").await?.is_empty());
    let k = key("p1", "default", VolumeType::Custom, "data");
    assert_eq!(store.volume(&k).await?, custom);
    assert_eq!(
        store.volume_snapshots(&k).await?,
        vec![volume_snapshot("data", "s1"), volume_snapshot("data", "s0")],
        "in creation order"
    );

    let mut p1 = pool("p1");
    p1.status = "ERRORED".into();
    p1.description = "changed".into();
    p1.config.remove("rsync.bwlimit");
    p1.config.insert("volume.size".into(), "2GiB".into());
    let mut custom2 = custom.clone();
    custom2.description = "changed".into();
    custom2.config = map(&[("size", "5GiB"), ("security.shifted", "true")]);
    store
        .apply(vec![
            StoreOp::UpdatePool(p1.clone()),
            StoreOp::UpdateVolume(custom2.clone()),
            StoreOp::RenameVolume {
                key: k.clone(),
                new_name: "data2".into(),
            },
        ])
        .await?;
    assert_eq!(store.pool("p1").await?, p1);
    let k2 = key("p1", "default", VolumeType::Custom, "data2");
    custom2.name = "data2".into();
    assert_eq!(store.volume(&k2).await?, custom2);
    let snaps = store.volume_snapshots(&k2).await?;
    assert_eq!(snaps.len(), 2, "snapshots follow a renamed volume");
    assert!(snaps.iter().all(|s| s.volume == "data2"));
    let e = store.volume(&k).await.unwrap_err();
    assert!(is_not_found(&e, "Storage volume", "data"), "{e}");

    store
        .apply(vec![StoreOp::DeleteVolumeSnapshot {
            key: k2.clone(),
            name: "s1".into(),
        }])
        .await?;
    assert_eq!(
        store
            .volume_snapshots(&k2)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>(),
        ["s0"]
    );
    let e = store
        .apply(vec![StoreOp::DeletePool { name: "p1".into() }])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::InUse { kind: "Storage pool", name, .. } if name == "p1"),
        "{e}"
    );
    store
        .apply(vec![
            StoreOp::DeleteVolume(k2.clone()),
            StoreOp::DeleteVolume(key("p1", "default", VolumeType::VirtualMachine, "vm1")),
            StoreOp::DeleteVolume(key("p1", "default", VolumeType::Image, &fingerprint("aa"))),
            StoreOp::DeletePool { name: "p1".into() },
        ])
        .await?;
    assert_eq!(store.pools().await?, vec![pool("p0")]);
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT COUNT(*) FROM storage_volumes_snapshots"
        )
        .await?,
        vec![strings(&["0"])]
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn failing_op_in_a_batch_changes_nothing() -> Result<()> {
    let dir = TempDir::new("atomic")?;
    let store = open(&dir).await?;
    store
        .apply(vec![StoreOp::CreateInstance(instance(
            "default",
            "c1",
            &["default"],
        ))])
        .await?;
    let before = store.instances(None).await?;
    let e = store
        .apply(vec![
            StoreOp::SetConfig {
                key: "core.trust_password".into(),
                value: Some("x".into()),
            },
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreatePool(pool("p1")),
            StoreOp::DeleteInstance {
                project: "default".into(),
                name: "c1".into(),
            },
            StoreOp::CreateInstance(instance("default", "c2", &["default", "missing"])),
            StoreOp::CreateImage(image("default", &fingerprint("ab"))),
        ])
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "Profile", "missing"), "{e}");
    assert!(store.config().await?.is_empty());
    let e = store.profile("default", "web").await.unwrap_err();
    assert!(is_not_found(&e, "Profile", "web"), "{e}");
    assert!(store.pools().await?.is_empty());
    assert_eq!(store.instances(None).await?, before, "c1 is still there");
    assert!(store.images("default").await?.is_empty());

    // A name clash in the middle also rolls back what came before it.
    let e = store
        .apply(vec![
            StoreOp::CreateProject(project("p")),
            StoreOp::CreateInstance(instance("default", "c1", &[])),
            StoreOp::CreatePool(pool("p1")),
        ])
        .await
        .unwrap_err();
    assert!(is_exists(&e, "Instance", "c1"), "{e}");
    let e = store.project("p").await.unwrap_err();
    assert!(is_not_found(&e, "Project", "p"), "{e}");
    assert!(store.pools().await?.is_empty());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn name_clashes_are_already_exists() -> Result<()> {
    let dir = TempDir::new("clash")?;
    let store = open(&dir).await?;
    let fp = fingerprint("cc");
    let alias = ImageAliasRecord {
        project: "default".into(),
        name: "a1".into(),
        fingerprint: fp.clone(),
        description: String::new(),
    };
    store
        .apply(vec![
            StoreOp::CreateProject(project("p")),
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreateInstance(instance("default", "c1", &[])),
            StoreOp::CreateInstance(instance("default", "c2", &[])),
            StoreOp::CreateSnapshot(snapshot("default", "c1", "s0", 1)),
            StoreOp::CreateSnapshot(snapshot("default", "c1", "s1", 2)),
            StoreOp::CreateImage(image("default", &fp)),
            StoreOp::CreateAlias(alias.clone()),
            StoreOp::CreatePool(pool("p1")),
            StoreOp::CreateVolume(volume("p1", "default", VolumeType::Custom, "v1")),
            StoreOp::CreateVolume(volume("p1", "default", VolumeType::Custom, "v2")),
            StoreOp::CreateVolumeSnapshot(volume_snapshot("v1", "s0")),
        ])
        .await?;
    let cases: Vec<(StoreOp, &str, String)> = vec![
        (StoreOp::CreateProject(project("p")), "Project", "p".into()),
        (
            StoreOp::CreateProject(project("default")),
            "Project",
            "default".into(),
        ),
        (
            StoreOp::CreateProfile(profile("default", "web")),
            "Profile",
            "web".into(),
        ),
        (
            StoreOp::RenameProfile {
                project: "default".into(),
                name: "web".into(),
                new_name: "default".into(),
            },
            "Profile",
            "default".into(),
        ),
        (
            StoreOp::CreateInstance(instance("default", "c1", &[])),
            "Instance",
            "c1".into(),
        ),
        (
            StoreOp::RenameInstance {
                project: "default".into(),
                name: "c1".into(),
                new_name: "c2".into(),
            },
            "Instance",
            "c2".into(),
        ),
        (
            StoreOp::CreateSnapshot(snapshot("default", "c1", "s0", 3)),
            "Snapshot",
            "c1/s0".into(),
        ),
        (
            StoreOp::RenameSnapshot {
                project: "default".into(),
                instance: "c1".into(),
                name: "s0".into(),
                new_name: "s1".into(),
            },
            "Snapshot",
            "c1/s1".into(),
        ),
        (
            StoreOp::CreateImage(image("default", &fp)),
            "Image",
            fp.clone(),
        ),
        (
            StoreOp::CreateAlias(alias.clone()),
            "Image alias",
            "a1".into(),
        ),
        (StoreOp::CreatePool(pool("p1")), "Storage pool", "p1".into()),
        (
            StoreOp::CreateVolume(volume("p1", "default", VolumeType::Custom, "v1")),
            "Storage volume",
            "v1".into(),
        ),
        (
            StoreOp::RenameVolume {
                key: key("p1", "default", VolumeType::Custom, "v1"),
                new_name: "v2".into(),
            },
            "Storage volume",
            "v2".into(),
        ),
        (
            StoreOp::CreateVolumeSnapshot(volume_snapshot("v1", "s0")),
            "Storage volume snapshot",
            "v1/s0".into(),
        ),
    ];
    for (op, kind, name) in cases {
        let shown = format!("{op:?}");
        let e = store.apply(vec![op]).await.unwrap_err();
        assert!(is_exists(&e, kind, &name), "{shown}: {e}");
    }
    // The same names are free in another project, and a volume name in another type.
    store
        .apply(vec![
            StoreOp::CreateInstance(instance("p", "c1", &["default"])),
            StoreOp::CreateImage(image("p", &fp)),
            StoreOp::CreateVolume(volume("p1", "p", VolumeType::Custom, "v1")),
            StoreOp::CreateVolume(volume("p1", "default", VolumeType::Container, "v1")),
        ])
        .await?;
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn missing_and_used_objects() -> Result<()> {
    let dir = TempDir::new("inuse")?;
    let store = open(&dir).await?;
    store
        .apply(vec![
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreateInstance(instance("default", "c1", &["default", "web"])),
        ])
        .await?;
    let e = store
        .apply(vec![StoreOp::DeleteProfile {
            project: "default".into(),
            name: "web".into(),
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::InUse { kind: "Profile", name, reason }
            if name == "web" && reason.contains("c1")),
        "{e}"
    );
    assert!(store.profile("default", "web").await.is_ok());

    // A project holding things cannot go; the default project never.
    store
        .apply(vec![
            StoreOp::CreateProject(project("p")),
            StoreOp::CreateProfile(profile("p", "extra")),
            StoreOp::CreateImage(image("p", &fingerprint("dd"))),
        ])
        .await?;
    let e = store
        .apply(vec![StoreOp::DeleteProject { name: "p".into() }])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::InUse { kind: "Project", name, reason }
            if name == "p" && reason.contains("1 image(s)") && reason.contains("profile(s)")),
        "{e}"
    );
    let e = store
        .apply(vec![StoreOp::DeleteProject {
            name: "default".into(),
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            StoreError::InUse {
                kind: "Project",
                ..
            }
        ),
        "{e}"
    );
    store
        .apply(vec![
            StoreOp::DeleteImage {
                project: "p".into(),
                fingerprint: fingerprint("dd"),
            },
            StoreOp::DeleteProfile {
                project: "p".into(),
                name: "extra".into(),
            },
            StoreOp::DeleteProject { name: "p".into() },
        ])
        .await?;
    assert_eq!(
        rows(&store, Database::Global, "SELECT COUNT(*) FROM profiles").await?,
        vec![strings(&["2"])],
        "p's default profile went with it"
    );

    let missing: Vec<(StoreOp, &str, &str)> = vec![
        (
            StoreOp::DeleteProject {
                name: "nope".into(),
            },
            "Project",
            "nope",
        ),
        (
            StoreOp::UpdateProfile(profile("default", "nope")),
            "Profile",
            "nope",
        ),
        (
            StoreOp::CreateProfile(profile("nope", "x")),
            "Project",
            "nope",
        ),
        (
            StoreOp::DeleteInstance {
                project: "default".into(),
                name: "nope".into(),
            },
            "Instance",
            "nope",
        ),
        (
            StoreOp::SetInstanceConfig {
                project: "default".into(),
                name: "nope".into(),
                changes: BTreeMap::new(),
            },
            "Instance",
            "nope",
        ),
        (
            StoreOp::CreateSnapshot(snapshot("default", "nope", "s", 1)),
            "Instance",
            "nope",
        ),
        (
            StoreOp::DeleteSnapshot {
                project: "default".into(),
                instance: "c1".into(),
                name: "nope".into(),
            },
            "Snapshot",
            "c1/nope",
        ),
        (
            StoreOp::DeleteImage {
                project: "default".into(),
                fingerprint: "ee".into(),
            },
            "Image",
            "ee",
        ),
        (
            StoreOp::CreateAlias(ImageAliasRecord {
                project: "default".into(),
                name: "a".into(),
                fingerprint: "ee".into(),
                description: String::new(),
            }),
            "Image",
            "ee",
        ),
        (
            StoreOp::DeleteAlias {
                project: "default".into(),
                name: "nope".into(),
            },
            "Image alias",
            "nope",
        ),
        (StoreOp::UpdatePool(pool("nope")), "Storage pool", "nope"),
        (
            StoreOp::CreateVolume(volume("nope", "default", VolumeType::Custom, "v")),
            "Storage pool",
            "nope",
        ),
        (
            StoreOp::CreateInstance(InstanceRecord {
                node: "elsewhere".into(),
                ..instance("default", "c9", &[])
            }),
            "Node",
            "elsewhere",
        ),
    ];
    for (op, kind, name) in missing {
        let shown = format!("{op:?}");
        let e = store.apply(vec![op]).await.unwrap_err();
        assert!(is_not_found(&e, kind, name), "{shown}: {e}");
    }
    store.apply(vec![StoreOp::CreatePool(pool("p1"))]).await?;
    let e = store
        .apply(vec![StoreOp::DeleteVolume(key(
            "p1",
            "default",
            VolumeType::Custom,
            "nope",
        ))])
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "Storage volume", "nope"), "{e}");
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn bad_values_are_refused_with_the_object_named() -> Result<()> {
    let dir = TempDir::new("bad")?;
    let store = open(&dir).await?;
    let mut c = instance("default", "c1", &[]);
    c.architecture = "vax".into();
    let e = store
        .apply(vec![StoreOp::CreateInstance(c)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("c1") && m.contains("vax")),
        "{e}"
    );
    let mut c = instance("default", "c1", &[]);
    c.devices
        .insert("floppy0".into(), map(&[("type", "floppy")]));
    let e = store
        .apply(vec![StoreOp::CreateInstance(c)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("floppy0") && m.contains("c1")),
        "{e}"
    );
    let mut c = instance("default", "c1", &[]);
    c.devices.insert("untyped".into(), map(&[("path", "/x")]));
    let e = store
        .apply(vec![StoreOp::CreateInstance(c)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("untyped")),
        "{e}"
    );
    let mut p = pool("p1");
    p.status = "MELTED".into();
    let e = store.apply(vec![StoreOp::CreatePool(p)]).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("p1") && m.contains("MELTED")),
        "{e}"
    );
    let e = store
        .apply(vec![StoreOp::CreateImage(image("default", "not-hex"))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("not-hex")),
        "{e}"
    );
    assert!(store.instances(None).await?.is_empty());
    assert!(store.pools().await?.is_empty());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn all_snapshots_reads_every_instance_at_once() -> Result<()> {
    let dir = TempDir::new("allsnaps")?;
    let store = open(&dir).await?;
    let mut ops = vec![
        StoreOp::CreateProject(project("p")),
        StoreOp::CreateProfile(profile("default", "web")),
        StoreOp::CreateProfile(profile("p", "web")),
    ];
    for (proj, name) in [
        ("default", "b"),
        ("default", "a"),
        ("default", "c"),
        ("p", "a"),
    ] {
        ops.push(StoreOp::CreateInstance(instance(proj, name, &["default"])));
    }
    // Created out of order: each instance's snapshots still come oldest first.
    for (proj, inst, snap, at) in [
        ("default", "b", "late", 1_700_000_300),
        ("default", "b", "early", 1_700_000_100),
        ("default", "a", "s0", 1_700_000_200),
        ("p", "a", "other", 1_700_000_050),
    ] {
        ops.push(StoreOp::CreateSnapshot(snapshot(proj, inst, snap, at)));
    }
    store.apply(ops).await?;

    let default = store.all_snapshots(Some("default")).await?;
    let names: Vec<_> = default
        .iter()
        .map(|s| format!("{}/{}/{}", s.project, s.instance, s.name))
        .collect();
    assert_eq!(
        names,
        ["default/a/s0", "default/b/early", "default/b/late"],
        "by instance, oldest first; c has none"
    );
    // The same records, config, devices and profiles included, as instance by instance.
    let mut one_by_one = Vec::new();
    for inst in ["a", "b", "c"] {
        one_by_one.extend(store.snapshots("default", inst).await?);
    }
    assert_eq!(default, one_by_one);
    assert_eq!(default[0], snapshot("default", "a", "s0", 1_700_000_200));

    let all: Vec<_> = store
        .all_snapshots(None)
        .await?
        .into_iter()
        .map(|s| format!("{}/{}/{}", s.project, s.instance, s.name))
        .collect();
    assert_eq!(
        all,
        [
            "default/a/s0",
            "p/a/other",
            "default/b/early",
            "default/b/late"
        ],
        "by instance name, then project"
    );

    // Reads that find nothing tell a missing project from a missing instance.
    let e = store.all_snapshots(Some("nope")).await.unwrap_err();
    assert!(is_not_found(&e, "Project", "nope"), "{e}");
    let e = store.instances(Some("nope")).await.unwrap_err();
    assert!(is_not_found(&e, "Project", "nope"), "{e}");
    let e = store.instance("nope", "a").await.unwrap_err();
    assert!(is_not_found(&e, "Project", "nope"), "{e}");
    let e = store.snapshots("nope", "a").await.unwrap_err();
    assert!(is_not_found(&e, "Project", "nope"), "{e}");
    let e = store.snapshots("default", "zz").await.unwrap_err();
    assert!(is_not_found(&e, "Instance", "zz"), "{e}");
    let e = store.profile("nope", "default").await.unwrap_err();
    assert!(is_not_found(&e, "Project", "nope"), "{e}");
    assert!(store.snapshots("default", "c").await?.is_empty());
    assert_eq!(store.all_snapshots(Some("p")).await?.len(), 1);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn listing_reads_many_instances() -> Result<()> {
    // Sets of ids travel as one bound JSON array: far more than one statement's worth of
    // literal ids still reads back whole.
    let dir = TempDir::new("many")?;
    let store = open(&dir).await?;
    let want: Vec<InstanceRecord> = (0..600)
        .map(|i| instance("default", &format!("c{i:03}"), &["default"]))
        .collect();
    store
        .apply(want.iter().cloned().map(StoreOp::CreateInstance).collect())
        .await?;
    assert_eq!(store.instances(Some("default")).await?, want);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn rename_instance_keeps_snapshots() -> Result<()> {
    let dir = TempDir::new("rename")?;
    let store = open(&dir).await?;
    store
        .apply(vec![
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreateInstance(instance("default", "c1", &["default"])),
            StoreOp::CreateSnapshot(snapshot("default", "c1", "s0", 10)),
            StoreOp::CreateSnapshot(snapshot("default", "c1", "s1", 20)),
        ])
        .await?;
    store
        .apply(vec![StoreOp::RenameInstance {
            project: "default".into(),
            name: "c1".into(),
            new_name: "c2".into(),
        }])
        .await?;
    let e = store.instance("default", "c1").await.unwrap_err();
    assert!(is_not_found(&e, "Instance", "c1"), "{e}");
    let e = store.snapshots("default", "c1").await.unwrap_err();
    assert!(is_not_found(&e, "Instance", "c1"), "{e}");
    assert_eq!(
        store.instance("default", "c2").await?,
        InstanceRecord {
            name: "c2".into(),
            ..instance("default", "c1", &["default"])
        }
    );
    let snaps = store.snapshots("default", "c2").await?;
    assert_eq!(
        snaps,
        vec![
            SnapshotRecord {
                instance: "c2".into(),
                ..snapshot("default", "c1", "s0", 10)
            },
            SnapshotRecord {
                instance: "c2".into(),
                ..snapshot("default", "c1", "s1", 20)
            },
        ]
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn state_survives_reopening() -> Result<()> {
    let dir = TempDir::new("reopen")?;
    let store = open(&dir).await?;
    store
        .apply(vec![
            StoreOp::SetConfig {
                key: "core.https_address".into(),
                value: Some(":8443".into()),
            },
            StoreOp::CreateProfile(profile("default", "web")),
            StoreOp::CreateInstance(instance("default", "c1", &["default", "web"])),
            StoreOp::CreateSnapshot(snapshot("default", "c1", "s0", 5)),
            StoreOp::CreateImage(image("default", &fingerprint("ef"))),
            StoreOp::CreatePool(pool("p1")),
            StoreOp::CreateVolume(volume("p1", "default", VolumeType::Custom, "v1")),
        ])
        .await?;
    store
        .query(
            Database::Local,
            "INSERT INTO config (key, value) VALUES ('core.https_address', '127.0.0.1:8443')",
        )
        .await?;
    let instances = store.instances(None).await?;
    let snaps = store.snapshots("default", "c1").await?;
    store.close().await;

    let store = open(&dir).await?;
    assert_eq!(store.instances(None).await?, instances);
    assert_eq!(store.snapshots("default", "c1").await?, snaps);
    assert_eq!(
        store.profile("default", "web").await?,
        profile("default", "web")
    );
    assert_eq!(
        store.image("default", "ef").await?,
        image("default", &fingerprint("ef"))
    );
    assert_eq!(store.pool("p1").await?, pool("p1"));
    assert_eq!(
        store
            .volume(&key("p1", "default", VolumeType::Custom, "v1"))
            .await?,
        volume("p1", "default", VolumeType::Custom, "v1")
    );
    assert_eq!(
        store.config().await?,
        map(&[("core.https_address", ":8443")])
    );
    assert_eq!(
        store.projects().await?.len(),
        1,
        "reopening seeds nothing again"
    );
    assert_eq!(store.profiles("default").await?.len(), 2);
    assert_eq!(store.nodes().await?.len(), 1);
    assert_eq!(
        rows(&store, Database::Local, "SELECT key, value FROM config").await?,
        vec![strings(&["core.https_address", "127.0.0.1:8443"])]
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn older_database_is_upgraded_on_open() -> Result<()> {
    let dir = TempDir::new("upgrade")?;
    SqliteStore::create_at_version(Database::Global, dir.global(), 1).await?;
    SqliteStore::create_at_version(Database::Local, dir.local(), 0).await?;
    {
        // Version 1 has the core tables and the seed, no image or storage tables yet.
        let store = SqliteStore::open_with_local(dir.global(), dir.local()).await;
        let store = store?;
        assert_eq!(
            store.schema_version(Database::Global).await?,
            GLOBAL_SCHEMA_VERSION
        );
        assert_eq!(
            store.schema_version(Database::Local).await?,
            LOCAL_SCHEMA_VERSION
        );
        let versions = rows(
            &store,
            Database::Global,
            "SELECT version FROM schema ORDER BY id",
        )
        .await?;
        let expected: Vec<Vec<String>> = (1..=GLOBAL_SCHEMA_VERSION)
            .map(|v| vec![v.to_string()])
            .collect();
        assert_eq!(versions, expected, "every step recorded once, in order");
        assert_eq!(store.projects().await?.len(), 1);
        assert_eq!(
            store.nodes().await?[0].schema,
            i64::from(GLOBAL_SCHEMA_VERSION)
        );
        // The tables of the later steps work.
        store
            .apply(vec![
                StoreOp::CreatePool(pool("p1")),
                StoreOp::CreateImage(image("default", &fingerprint("12"))),
                StoreOp::CreateInstance(instance("default", "c1", &["default"])),
                StoreOp::CreateSnapshot(snapshot("default", "c1", "s0", 1)),
            ])
            .await?;
        assert_eq!(store.snapshots("default", "c1").await?[0].profiles.len(), 2);
        store.close().await;
    }

    // A database made at version 1 and upgraded has the tables a fresh one has.
    let fresh = TempDir::new("upgrade-fresh")?;
    let a = open(&fresh).await?;
    let tables = "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' \
                  ORDER BY type, name";
    let fresh_schema = rows(&a, Database::Global, tables).await?;
    a.close().await;
    let b = SqliteStore::open(dir.global()).await?;
    assert_eq!(rows(&b, Database::Global, tables).await?, fresh_schema);
    b.close().await;

    // A version this program does not have cannot be asked for.
    let e = SqliteStore::create_at_version(Database::Global, dir.0.join("x.db"), 99)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoSuchVersion { version: 99, .. }), "{e}");
    Ok(())
}

#[tokio::test]
async fn newer_database_is_refused() -> Result<()> {
    let dir = TempDir::new("newer")?;
    let store = open(&dir).await?;
    let next = GLOBAL_SCHEMA_VERSION + 1;
    let r = store
        .query(
            Database::Global,
            &format!("INSERT INTO schema (version, updated_at) VALUES ({next}, strftime('%s'))"),
        )
        .await?;
    assert_eq!(r.rows_affected, 1);
    store.close().await;

    let e = SqliteStore::open(dir.global()).await.unwrap_err();
    match &e {
        Error::TooNew {
            path,
            found,
            supported,
        } => {
            assert_eq!(path, &dir.global());
            assert_eq!(*found, next);
            assert_eq!(*supported, GLOBAL_SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other}"),
    }
    let shown = e.to_string();
    assert!(
        shown.contains("newer") && shown.contains("db.bin"),
        "{shown}"
    );
    // The refused database is left as it was.
    let e = SqliteStore::open(dir.global()).await.unwrap_err();
    assert!(matches!(e, Error::TooNew { .. }), "{e}");
    Ok(())
}

/// The tables LXD 5.0 users find with `lxd sql global` (and the one this store adds).
const GLOBAL_TABLES: &[&str] = &[
    "config",
    "images",
    "images_aliases",
    "images_nodes",
    "images_properties",
    "instances",
    "instances_config",
    "instances_devices",
    "instances_devices_config",
    "instances_profiles",
    "instances_snapshots",
    "instances_snapshots_config",
    "instances_snapshots_devices",
    "instances_snapshots_devices_config",
    "instances_snapshots_profiles",
    "networks",
    "networks_config",
    "networks_nodes",
    "nodes",
    "profiles",
    "profiles_config",
    "profiles_devices",
    "profiles_devices_config",
    "projects",
    "projects_config",
    "schema",
    "storage_pools",
    "storage_pools_config",
    "storage_pools_nodes",
    "storage_volumes",
    "storage_volumes_config",
    "storage_volumes_snapshots",
    "storage_volumes_snapshots_config",
];

#[tokio::test]
async fn raw_queries_on_both_databases() -> Result<()> {
    let dir = TempDir::new("query")?;
    let store = open(&dir).await?;
    let r = store
        .query(Database::Global, "SELECT name FROM projects")
        .await?;
    assert_eq!(r.columns, ["name"]);
    assert_eq!(r.rows, vec![vec![Some("default".to_string())]]);

    let list = "SELECT name FROM sqlite_master WHERE type = 'table' \
                AND name NOT LIKE 'sqlite_%' ORDER BY name";
    let global: Vec<String> = rows(&store, Database::Global, list)
        .await?
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect();
    assert_eq!(global, strings(GLOBAL_TABLES));
    let local: Vec<String> = rows(&store, Database::Local, list)
        .await?
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect();
    assert_eq!(local, ["config", "patches", "raft_nodes", "schema"]);
    assert_eq!(
        rows(&store, Database::Local, "SELECT version FROM schema").await?,
        vec![strings(&["1"])]
    );

    // The columns LXD has, in LXD's order.
    let cols = store
        .query(Database::Global, "SELECT * FROM instances")
        .await?
        .columns;
    assert_eq!(
        cols,
        [
            "id",
            "node_id",
            "name",
            "architecture",
            "type",
            "ephemeral",
            "creation_date",
            "stateful",
            "last_use_date",
            "description",
            "project_id",
            "expiry_date"
        ]
    );
    let cols = store
        .query(Database::Global, "SELECT * FROM images")
        .await?
        .columns;
    assert_eq!(
        cols,
        [
            "id",
            "fingerprint",
            "filename",
            "size",
            "public",
            "architecture",
            "creation_date",
            "expiry_date",
            "upload_date",
            "cached",
            "last_use_date",
            "auto_update",
            "project_id",
            "type"
        ]
    );

    // Integers in decimal, NULL as None, text as is; rows_affected for changes.
    let r = store
        .query(Database::Global, "SELECT 42, NULL, 'x', 1.5, -7")
        .await?;
    assert_eq!(
        r.rows,
        vec![vec![
            Some("42".into()),
            None,
            Some("x".into()),
            Some("1.5".into()),
            Some("-7".into())
        ]]
    );
    let r = store
        .query(
            Database::Local,
            "INSERT INTO patches (name, applied_at) VALUES ('a', 1), ('b', 2)",
        )
        .await?;
    assert_eq!((r.rows_affected, r.columns.len()), (2, 0));
    let r = store.query(Database::Local, "DELETE FROM patches").await?;
    assert_eq!(r.rows_affected, 2);
    // Several statements run in one transaction; only one may return rows.
    let r = store
        .query(
            Database::Local,
            "INSERT INTO patches (name, applied_at) VALUES ('a;b', 1); \
             INSERT INTO patches (name, applied_at) VALUES ('c', 2);",
        )
        .await?;
    assert_eq!(r.rows_affected, 2);
    let e = store
        .query(Database::Local, "SELECT name FROM patches; SELECT 1")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Unsupported(m) if m.contains("2 statements")),
        "{e}"
    );
    let e = store
        .query(
            Database::Local,
            "DELETE FROM patches WHERE name = 'a;b'; \
             INSERT INTO patches (name, applied_at) VALUES ('c', 3)",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("UNIQUE"), "{e}");
    assert_eq!(
        rows(
            &store,
            Database::Local,
            "SELECT name FROM patches ORDER BY name"
        )
        .await?,
        vec![strings(&["a;b"]), strings(&["c"])],
        "a failing statement undoes the others"
    );
    let e = store
        .query(Database::Local, " -- nothing ")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unsupported(_)), "{e}");
    let e = store
        .query(Database::Global, "SELECT nope FROM nowhere")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Database(m) if m.contains("nowhere") && m.contains("global")),
        "{e}"
    );
    store.close().await;

    // A store opened without a local database says so.
    let store = SqliteStore::open(dir.global()).await?;
    let e = store.query(Database::Local, "SELECT 1").await.unwrap_err();
    assert!(matches!(e, StoreError::Unsupported(_)), "{e}");
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn stored_columns_use_lxd_codes() -> Result<()> {
    let dir = TempDir::new("codes")?;
    let store = open(&dir).await?;
    let mut vm = instance("default", "vm1", &["default"]);
    vm.instance_type = InstanceType::VirtualMachine;
    vm.last_used_at = 0;
    let mut img = image("default", &fingerprint("77"));
    img.image_type = "virtual-machine".into();
    let mut block = volume("p1", "default", VolumeType::VirtualMachine, "vm1");
    block.content_type = "block".into();
    store
        .apply(vec![
            StoreOp::CreateInstance(vm),
            StoreOp::CreateImage(img),
            StoreOp::CreatePool(pool("p1")),
            StoreOp::CreateVolume(block),
        ])
        .await?;
    let g = |sql: &'static str| rows(&store, Database::Global, sql);
    assert_eq!(
        g("SELECT architecture, type, creation_date, last_use_date FROM instances").await?,
        vec![strings(&["2", "1", "2023-11-14 22:13:20+00:00", "NULL"])]
    );
    assert_eq!(
        g("SELECT name, type FROM instances_devices ORDER BY name").await?,
        vec![
            strings(&["data", "2"]),
            strings(&["gpu0", "6"]),
            strings(&["proxy0", "8"])
        ]
    );
    assert_eq!(
        g("SELECT COUNT(*) FROM instances_devices_config WHERE key = 'type'").await?,
        vec![strings(&["0"])],
        "the type lives in instances_devices only"
    );
    assert_eq!(
        g("SELECT apply_order FROM instances_profiles").await?,
        vec![strings(&["1"])]
    );
    assert_eq!(
        g("SELECT architecture, type, expiry_date FROM images").await?,
        vec![strings(&["2", "1", "NULL"])]
    );
    assert_eq!(
        g("SELECT node_id FROM images_nodes").await?,
        vec![strings(&["1"])]
    );
    assert_eq!(
        g("SELECT state FROM storage_pools").await?,
        vec![strings(&["1"])]
    );
    assert_eq!(
        g("SELECT key, IFNULL(node_id, 'NULL') FROM storage_pools_config ORDER BY key").await?,
        vec![
            strings(&["rsync.bwlimit", "NULL"]),
            strings(&["source", "1"])
        ],
        "node-specific keys carry the node, as in LXD"
    );
    assert_eq!(
        g("SELECT node_id, state FROM storage_pools_nodes").await?,
        vec![strings(&["1", "1"])]
    );
    assert_eq!(
        g("SELECT type, content_type, node_id FROM storage_volumes").await?,
        vec![strings(&["3", "1", "1"])]
    );
    assert_eq!(
        g("SELECT key, value FROM projects_config ORDER BY key").await?,
        vec![
            strings(&["features.images", "true"]),
            strings(&["features.networks", "true"]),
            strings(&["features.profiles", "true"]),
            strings(&["features.storage.volumes", "true"]),
        ]
    );
    // Foreign keys are on: cascades work and dangling rows are refused.
    let e = store
        .query(
            Database::Global,
            "INSERT INTO instances_config (instance_id, key, value) VALUES (999, 'a', 'b')",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
    assert_eq!(g("PRAGMA journal_mode").await?, vec![strings(&["wal"])]);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn concurrent_batches_all_land() -> Result<()> {
    let dir = TempDir::new("concurrent")?;
    let store = Arc::new(open(&dir).await?);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .apply(vec![
                    StoreOp::CreateProfile(profile("default", &format!("p{i:02}"))),
                    StoreOp::CreateInstance(instance("default", &format!("c{i:02}"), &["default"])),
                ])
                .await?;
            store.instances(None).await.map(|l| l.len())
        }));
    }
    for t in tasks {
        let seen = t.await??;
        ensure!((1..=16).contains(&seen), "saw {seen} instances");
    }
    let names: Vec<_> = store
        .instances(None)
        .await?
        .into_iter()
        .map(|i| i.name)
        .collect();
    let expected: Vec<_> = (0..16).map(|i| format!("c{i:02}")).collect();
    assert_eq!(names, expected);
    assert_eq!(store.profiles("default").await?.len(), 17);
    Arc::try_unwrap(store)
        .map_err(|_| anyhow::anyhow!("store still shared"))?
        .close()
        .await;
    Ok(())
}

#[tokio::test]
async fn open_errors_name_the_path() -> Result<()> {
    let dir = TempDir::new("openerr")?;
    let file = dir.0.join("not-a-dir");
    std::fs::write(&file, b"x")?;
    let path = file.join("db.bin");
    let e = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(&e, Error::Open { path: p, .. } if p == &path),
        "{e}"
    );
    assert!(e.to_string().contains("not-a-dir"), "{e}");
    // A file that is not a database is refused, and left alone.
    let junk = dir.0.join("junk.db");
    std::fs::write(&junk, vec![b'j'; 4096])?;
    let e = SqliteStore::open(&junk).await.unwrap_err();
    assert!(e.to_string().contains("junk.db"), "{e}");
    assert_eq!(std::fs::read(&junk)?, vec![b'j'; 4096]);
    Ok(())
}
