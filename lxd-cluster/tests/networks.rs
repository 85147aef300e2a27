//! Managed networks in the sqlite store: records round-trip, names are unique per project,
//! networks in use by nics cannot be renamed or deleted, and the rows follow LXD's tables.

mod common;

use anyhow::Result;
use common::*;
use lxd_core::store::{ClusterStore, Database, NetworkRecord, StoreError, StoreOp};

fn network(project: &str, name: &str) -> NetworkRecord {
    NetworkRecord {
        project: project.into(),
        name: name.into(),
        kind: "bridge".into(),
        description: format!("network {name}"),
        config: map(&[
            ("ipv4.address", "10.12.0.1/24"),
            ("ipv4.nat", "true"),
            ("bridge.external_interfaces", "eth9"),
        ]),
        status: "CREATED".into(),
    }
}

#[tokio::test]
async fn networks_round_trip() -> Result<()> {
    let dir = TempDir::new("networks")?;
    let store = open(&dir).await?;
    let mut mac = network("default", "mv0");
    mac.kind = "macvlan".into();
    mac.config = map(&[("parent", "eth0")]);
    store
        .apply(vec![
            StoreOp::CreateNetwork(network("default", "net1")),
            StoreOp::CreateNetwork(mac.clone()),
            StoreOp::CreateNetwork(network("default", "br0")),
        ])
        .await?;
    assert_eq!(
        store.network("default", "net1").await?,
        network("default", "net1")
    );
    assert_eq!(
        store.networks("default").await?,
        vec![
            network("default", "br0"),
            mac.clone(),
            network("default", "net1")
        ],
        "sorted by name"
    );

    let mut changed = network("default", "net1");
    changed.description = "changed".into();
    changed.status = "ERRORED".into();
    changed.config.remove("ipv4.nat");
    changed.config.insert("ipv6.address".into(), "none".into());
    store
        .apply(vec![
            StoreOp::UpdateNetwork(changed.clone()),
            StoreOp::RenameNetwork {
                project: "default".into(),
                name: "br0".into(),
                new_name: "br1".into(),
            },
        ])
        .await?;
    assert_eq!(store.network("default", "net1").await?, changed);
    assert_eq!(store.network("default", "br1").await?.name, "br1");
    let e = store.network("default", "br0").await.unwrap_err();
    assert!(is_not_found(&e, "Network", "br0"), "{e}");

    // LXD's rows: type and state codes, per-node keys with node_id 1, the node row.
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT name, type, state FROM networks ORDER BY name"
        )
        .await?,
        vec![
            strings(&["br1", "0", "1"]),
            strings(&["mv0", "1", "1"]),
            strings(&["net1", "0", "2"]),
        ]
    );
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT c.key, IFNULL(c.node_id, 'NULL') FROM networks_config c \
             JOIN networks n ON n.id = c.network_id WHERE n.name = 'net1' ORDER BY c.key"
        )
        .await?,
        vec![
            strings(&["bridge.external_interfaces", "1"]),
            strings(&["ipv4.address", "NULL"]),
            strings(&["ipv6.address", "NULL"]),
        ]
    );
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT COUNT(*) FROM networks_nodes WHERE node_id = 1"
        )
        .await?,
        vec![strings(&["3"])]
    );

    store
        .apply(vec![StoreOp::DeleteNetwork {
            project: "default".into(),
            name: "net1".into(),
        }])
        .await?;
    assert_eq!(store.networks("default").await?.len(), 2);
    assert_eq!(
        rows(
            &store,
            Database::Global,
            "SELECT (SELECT COUNT(*) FROM networks_config), (SELECT COUNT(*) FROM networks_nodes)"
        )
        .await?,
        vec![strings(&["4", "2"])],
        "config and node rows go with the network"
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn network_names_and_values_are_checked() -> Result<()> {
    let dir = TempDir::new("networks-bad")?;
    let store = open(&dir).await?;
    store
        .apply(vec![StoreOp::CreateNetwork(network("default", "net1"))])
        .await?;
    let e = store
        .apply(vec![StoreOp::CreateNetwork(network("default", "net1"))])
        .await
        .unwrap_err();
    assert!(is_exists(&e, "Network", "net1"), "{e}");

    let mut bad = network("default", "net2");
    bad.kind = "hub".into();
    let e = store
        .apply(vec![StoreOp::CreateNetwork(bad)])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"hub\""), "{e}");
    let mut bad = network("default", "net2");
    bad.status = "LOST".into();
    let e = store
        .apply(vec![StoreOp::CreateNetwork(bad)])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("LOST"), "{e}");
    let e = store
        .apply(vec![StoreOp::CreateNetwork(network("nope", "net2"))])
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "Project", "nope"), "{e}");
    let e = store
        .apply(vec![StoreOp::RenameNetwork {
            project: "default".into(),
            name: "net1".into(),
            new_name: String::new(),
        }])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = store
        .apply(vec![StoreOp::DeleteNetwork {
            project: "default".into(),
            name: "net9".into(),
        }])
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "Network", "net9"), "{e}");
    assert_eq!(
        store.networks("default").await?,
        vec![network("default", "net1")]
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn networks_used_by_nics_stay() -> Result<()> {
    let dir = TempDir::new("networks-used")?;
    let store = open(&dir).await?;
    let mut c1 = instance("default", "c1", &["default"]);
    c1.devices = devices(&[("eth0", &[("type", "nic"), ("network", "net1")])]);
    let mut web = profile("default", "web");
    web.devices = devices(&[(
        "eth1",
        &[("type", "nic"), ("nictype", "bridged"), ("parent", "net2")],
    )]);
    // A disk whose "parent"-like key names the network is not a user.
    let mut c2 = instance("default", "c2", &["default"]);
    c2.devices = devices(&[("d", &[("type", "disk"), ("path", "/x"), ("source", "net3")])]);
    // A project with its own networks does not use default's.
    let mut own = project("own");
    own.config.insert("features.networks".into(), "true".into());
    let mut c3 = instance("own", "c3", &["default"]);
    c3.devices = devices(&[("eth0", &[("type", "nic"), ("network", "net3")])]);
    store
        .apply(vec![
            StoreOp::CreateNetwork(network("default", "net1")),
            StoreOp::CreateNetwork(network("default", "net2")),
            StoreOp::CreateNetwork(network("default", "net3")),
            StoreOp::CreateProject(own),
            StoreOp::CreateProfile(web),
            StoreOp::CreateInstance(c1),
            StoreOp::CreateInstance(c2),
            StoreOp::CreateInstance(c3),
        ])
        .await?;

    for (name, user) in [("net1", "instance c1"), ("net2", "profile web")] {
        let e = store
            .apply(vec![StoreOp::DeleteNetwork {
                project: "default".into(),
                name: name.into(),
            }])
            .await
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::InUse { kind: "Network", name: n, reason }
                if n == name && reason.contains(user)),
            "{e}"
        );
        let e = store
            .apply(vec![StoreOp::RenameNetwork {
                project: "default".into(),
                name: name.into(),
                new_name: "other".into(),
            }])
            .await
            .unwrap_err();
        assert!(matches!(&e, StoreError::InUse { .. }), "{e}");
    }
    // net3 is used only by a disk and by a project with its own networks.
    store
        .apply(vec![StoreOp::DeleteNetwork {
            project: "default".into(),
            name: "net3".into(),
        }])
        .await?;
    // Once the users go, the network can go.
    store
        .apply(vec![
            StoreOp::DeleteInstance {
                project: "default".into(),
                name: "c1".into(),
            },
            StoreOp::DeleteNetwork {
                project: "default".into(),
                name: "net1".into(),
            },
        ])
        .await?;
    assert_eq!(
        store
            .networks("default")
            .await?
            .into_iter()
            .map(|n| n.name)
            .collect::<Vec<_>>(),
        ["net2"]
    );
    store.close().await;
    Ok(())
}
