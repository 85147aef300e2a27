//! `lxd init`: configures a running daemon through its API, from LXD's preseed YAML
//! (`--preseed`), from defaults (`--auto`), or by asking LXD's questions.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use hyper::Method;
use lxd_api::client::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cli::InitArgs;

/// LXD's preseed document.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Preseed {
    /// Server configuration keys.
    pub config: BTreeMap<String, Value>,
    /// Networks to create.
    pub networks: Vec<Value>,
    /// Storage pools to create.
    pub storage_pools: Vec<PreseedPool>,
    /// Profiles to create or update.
    pub profiles: Vec<PreseedProfile>,
    /// Projects to create.
    pub projects: Vec<Value>,
    /// Clustering (not supported).
    pub cluster: Option<Value>,
}

/// A pool in a preseed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PreseedPool {
    /// Name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Description.
    pub description: String,
    /// Configuration.
    pub config: BTreeMap<String, String>,
}

/// A profile in a preseed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PreseedProfile {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Configuration.
    pub config: BTreeMap<String, String>,
    /// Devices.
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
}

fn client() -> Client {
    Client::new(&crate::lxd_dir())
}

/// Applies a preseed: server config, pools, projects, networks, profiles (created or updated).
pub async fn apply(client: &Client, p: &Preseed) -> Result<()> {
    if p.cluster.as_ref().is_some_and(|c| !c.is_null()) {
        bail!("Clustering is not supported");
    }
    if !p.config.is_empty() {
        let config: BTreeMap<String, String> = p
            .config
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        client
            .call(Method::PATCH, "/1.0", Some(&json!({"config": config})))
            .await
            .context("Failed to update server configuration")?;
    }
    for pool in &p.storage_pools {
        let exists = client
            .request(
                Method::GET,
                &format!("/1.0/storage-pools/{}", pool.name),
                None,
            )
            .await
            .is_ok();
        if exists {
            client
                .call(
                    Method::PUT,
                    &format!("/1.0/storage-pools/{}", pool.name),
                    Some(&json!({"config": pool.config, "description": pool.description})),
                )
                .await
                .with_context(|| format!("Failed to update storage pool {:?}", pool.name))?;
        } else {
            client
                .call(
                    Method::POST,
                    "/1.0/storage-pools",
                    Some(&serde_json::to_value(pool)?),
                )
                .await
                .with_context(|| format!("Failed to create storage pool {:?}", pool.name))?;
        }
    }
    for project in &p.projects {
        client
            .call(Method::POST, "/1.0/projects", Some(project))
            .await
            .context("Failed to create project")?;
    }
    for net in &p.networks {
        client
            .call(Method::POST, "/1.0/networks", Some(net))
            .await
            .context("Failed to create network")?;
    }
    for prof in &p.profiles {
        let path = format!("/1.0/profiles/{}", prof.name);
        if let Ok(current) = client.get::<PreseedProfile>(&path).await {
            // As LXD: the preseed's keys and devices are added to the existing profile's.
            let mut next = current;
            next.config.extend(prof.config.clone());
            next.devices.extend(prof.devices.clone());
            if !prof.description.is_empty() {
                next.description = prof.description.clone();
            }
            client
                .call(
                    Method::PUT,
                    &path,
                    Some(&json!({"config": next.config, "description": next.description, "devices": next.devices})),
                )
                .await
                .with_context(|| format!("Failed to update profile {:?}", prof.name))?;
        } else {
            client
                .call(
                    Method::POST,
                    "/1.0/profiles",
                    Some(&serde_json::to_value(prof)?),
                )
                .await
                .with_context(|| format!("Failed to create profile {:?}", prof.name))?;
        }
    }
    Ok(())
}

fn root_profile(pool: &str) -> PreseedProfile {
    let mut root = BTreeMap::new();
    root.insert("path".into(), "/".into());
    root.insert("pool".into(), pool.into());
    root.insert("type".into(), "disk".into());
    let mut devices = BTreeMap::new();
    devices.insert("root".into(), root);
    PreseedProfile {
        name: "default".into(),
        description: "Default LXD profile".into(),
        config: BTreeMap::new(),
        devices,
    }
}

/// The `eth0` nic on a network that `lxd init` gives the default profile.
fn eth0_on(network: &str) -> BTreeMap<String, String> {
    [("name", "eth0"), ("network", network), ("type", "nic")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The first `lxdbrN` that is no interface of the server's host yet (`networks` is the
/// server's list, unmanaged interfaces included).
fn free_bridge_name(networks: &[Value]) -> String {
    (0..)
        .map(|i| format!("lxdbr{i}"))
        .find(|n| !networks.iter().any(|x| x["name"] == n.as_str()))
        .expect("some index is free")
}

async fn auto_preseed(client: &Client, args: &InitArgs) -> Result<Preseed> {
    let backend = args.storage_backend.clone().unwrap_or_else(|| "dir".into());
    let name = args
        .storage_pool
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut config = BTreeMap::new();
    if let Some(dev) = &args.storage_create_device {
        config.insert("source".into(), dev.clone());
    }
    if let Some(size) = args.storage_create_loop {
        if backend == "dir" {
            bail!("--storage-create-loop can't be used with the dir backend");
        }
        config.insert("size".into(), format!("{size}GiB"));
    }
    let mut p = Preseed {
        storage_pools: vec![PreseedPool {
            name: name.clone(),
            driver: backend,
            description: String::new(),
            config,
        }],
        profiles: vec![root_profile(&name)],
        ..Default::default()
    };
    // As LXD: a bridge for the default profile, unless a managed network or a nic in the
    // default profile exists already.
    let networks: Vec<Value> = client
        .get("/1.0/networks?recursion=1")
        .await
        .context("Failed to retrieve list of networks")?;
    let managed = networks.iter().any(|n| n["managed"] == true);
    let default: Value = client
        .get("/1.0/profiles/default")
        .await
        .unwrap_or_default();
    let has_nic = default["devices"]
        .as_object()
        .is_some_and(|d| d.values().any(|dev| dev["type"] == "nic"));
    if !managed && !has_nic {
        let bridge = free_bridge_name(&networks);
        p.networks
            .push(json!({"name": bridge, "type": "", "config": {}, "description": ""}));
        p.profiles[0]
            .devices
            .insert("eth0".into(), eth0_on(&bridge));
    }
    Ok(p)
}

struct Asker<R: BufRead> {
    input: R,
}

impl<R: BufRead> Asker<R> {
    fn ask(&mut self, question: &str, default: &str) -> Result<String> {
        print!("{question} [default={default}]: ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            bail!("Unexpected end of input");
        }
        let a = line.trim();
        Ok(if a.is_empty() {
            default.to_string()
        } else {
            a.to_string()
        })
    }

    fn yes(&mut self, question: &str, default: bool) -> Result<bool> {
        loop {
            let a = self.ask(
                &format!("{question} (yes/no)"),
                if default { "yes" } else { "no" },
            )?;
            match a.to_lowercase().as_str() {
                "yes" | "y" => return Ok(true),
                "no" | "n" => return Ok(false),
                _ => println!("Invalid input, try again.\n"),
            }
        }
    }
}

/// The default profile of a preseed being built (created when no pool question added it).
fn default_profile(p: &mut Preseed) -> &mut PreseedProfile {
    if !p.profiles.iter().any(|x| x.name == "default") {
        p.profiles.push(PreseedProfile {
            name: "default".into(),
            description: "Default LXD profile".into(),
            ..Default::default()
        });
    }
    p.profiles
        .iter_mut()
        .find(|x| x.name == "default")
        .expect("just added")
}

/// LXD's bridge questions: a new managed bridge, or an existing bridge or host interface, for
/// the default profile's `eth0`.
fn network_questions<R: BufRead>(a: &mut Asker<R>, p: &mut Preseed) -> Result<()> {
    if a.yes("Would you like to create a new local network bridge?", true)? {
        let name = loop {
            let n = a.ask("What should the new bridge be called?", "lxdbr0")?;
            if n.len() > 15 || n.is_empty() || n.contains('/') {
                println!("Invalid input, try again.\n");
                continue;
            }
            break n;
        };
        let mut config = serde_json::Map::new();
        for family in ["IPv4", "IPv6"] {
            let v = a.ask(
                &format!(
                    "What {family} address should be used? (CIDR subnet notation, “auto” or “none”)"
                ),
                "auto",
            )?;
            let key = family.to_lowercase();
            config.insert(format!("{key}.address"), Value::String(v.clone()));
            if v != "none" && v != "auto" {
                let nat = a.yes(
                    &format!("Would you like LXD to NAT {family} traffic on your bridge?"),
                    true,
                )?;
                config.insert(format!("{key}.nat"), Value::String(nat.to_string()));
            }
        }
        p.networks
            .push(json!({"name": name, "type": "bridge", "config": config, "description": ""}));
        default_profile(p)
            .devices
            .insert("eth0".into(), eth0_on(&name));
    } else if a.yes(
        "Would you like to configure LXD to use an existing bridge or host interface?",
        false,
    )? {
        let name = a.ask("Name of the existing bridge or host interface", "")?;
        let path = std::path::Path::new("/sys/class/net").join(&name);
        if name.is_empty() || !path.exists() {
            bail!("The requested interface {name:?} doesn't exist");
        }
        let nictype = if path.join("bridge").exists() {
            "bridged"
        } else {
            "macvlan"
        };
        let nic = [
            ("name", "eth0"),
            ("nictype", nictype),
            ("parent", &name),
            ("type", "nic"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        default_profile(p).devices.insert("eth0".into(), nic);
    }
    Ok(())
}

/// Asks LXD's questions (those this implementation can act on).
fn interactive(client_drivers: &[String]) -> Result<Preseed> {
    let stdin = std::io::stdin();
    let mut a = Asker {
        input: stdin.lock(),
    };
    let mut p = Preseed::default();
    if a.yes("Would you like to use LXD clustering?", false)? {
        bail!("Clustering is not supported");
    }
    if a.yes("Do you want to configure a new storage pool?", true)? {
        let name = a.ask("Name of the new storage pool", "default")?;
        let default = if client_drivers.iter().any(|d| d == "btrfs") {
            "btrfs"
        } else {
            "dir"
        };
        let driver = loop {
            let d = a.ask(
                &format!(
                    "Name of the storage backend to use ({})",
                    client_drivers.join(", ")
                ),
                default,
            )?;
            if client_drivers.contains(&d) {
                break d;
            }
            println!("Invalid input, try again.\n");
        };
        let mut config = BTreeMap::new();
        if driver == "btrfs" && a.yes("Create a new BTRFS pool?", true)? {
            if a.yes(
                "Would you like to use an existing empty block device (e.g. a disk or partition)?",
                false,
            )? {
                config.insert(
                    "source".into(),
                    a.ask("Path to the existing block device", "")?,
                );
            } else {
                let size = a.ask("Size in GiB of the new loop device (1GiB minimum)", "5GiB")?;
                let size = if size.bytes().all(|b| b.is_ascii_digit()) {
                    format!("{size}GiB")
                } else {
                    size
                };
                config.insert("size".into(), size);
            }
        } else if driver == "btrfs" {
            config.insert(
                "source".into(),
                a.ask("Name of the existing BTRFS pool or dataset", "")?,
            );
        }
        p.storage_pools.push(PreseedPool {
            name: name.clone(),
            driver,
            description: String::new(),
            config,
        });
        p.profiles.push(root_profile(&name));
    }
    if a.yes("Would you like to connect to a MAAS server?", false)? {
        bail!("MAAS is not supported");
    }
    network_questions(&mut a, &mut p)?;
    if a.yes(
        "Would you like the LXD server to be available over the network?",
        false,
    )? {
        bail!("Listening on the network is not supported; use the unix socket");
    }
    let updates = a.yes(
        "Would you like stale cached images to be updated automatically?",
        true,
    )?;
    p.config.insert(
        "images.auto_update_interval".into(),
        Value::String(if updates { "6" } else { "0" }.into()),
    );
    if a.yes(
        "Would you like a YAML \"lxd init\" preseed to be printed?",
        false,
    )? {
        print!("{}", yaml_serde::to_string(&p)?);
    }
    Ok(p)
}

/// Runs `lxd init`.
pub fn run(args: InitArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = client();
        let server = client
            .request(Method::GET, "/1.0", None)
            .await
            .context("Failed to connect to local LXD")?;
        if args.dump {
            let d = dump(&client).await?;
            print!("{}", yaml_serde::to_string(&d)?);
            return Ok(());
        }
        let preseed = if args.preseed {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            yaml_serde::from_str::<Preseed>(&text).context("Failed to parse the preseed")?
        } else if args.auto {
            auto_preseed(&client, &args).await?
        } else {
            let drivers: Vec<String> = server.metadata()["environment"]
                ["storage_supported_drivers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d["Name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_else(|| vec!["dir".into()]);
            interactive(&drivers)?
        };
        apply(&client, &preseed).await
    })
}

/// `lxd init --dump`: the current configuration as a preseed.
async fn dump(client: &Client) -> Result<Preseed> {
    let server = client.request(Method::GET, "/1.0", None).await?;
    let pools: Vec<Value> = client.get("/1.0/storage-pools?recursion=1").await?;
    let profiles: Vec<Value> = client.get("/1.0/profiles?recursion=1").await?;
    let networks: Vec<Value> = client.get("/1.0/networks?recursion=1").await?;
    let networks = networks
        .into_iter()
        .filter(|n| n["managed"] == true)
        .map(|n| {
            json!({"config": n["config"], "description": n["description"], "name": n["name"],
                   "type": n["type"], "project": "default"})
        })
        .collect();
    Ok(Preseed {
        networks,
        config: serde_json::from_value(server.metadata()["config"].clone()).unwrap_or_default(),
        storage_pools: pools
            .into_iter()
            .filter_map(|p| serde_json::from_value(p).ok())
            .collect(),
        profiles: profiles
            .into_iter()
            .filter_map(|p| serde_json::from_value(p).ok())
            .collect(),
        ..Default::default()
    })
}
