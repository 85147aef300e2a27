//! The `bridge` network driver: a Linux bridge named after the network, its addresses, NAT
//! and firewall rules in the network's own nftables table, a supervised dnsmasq for DHCP and
//! DNS, the forwarding it needs, and the fan overlay (`bridge.mode=fan`).
//!
//! What a running network changes on the host, and how `stop` undoes it:
//! - interfaces `NAME` (bridge) and, for a fan, `NAME-fan` (vxlan or ipip tunnel) with its
//!   routes, neighbour and forwarding entries: deleted;
//! - routes of `ipv4.routes`/`ipv6.routes` via the bridge: they go with the bridge;
//! - nftables table `inet lxdrs_NAME`: deleted;
//! - a dnsmasq process: stopped (and its pid file removed);
//! - sysctls of its own interfaces (`net.ipv4.conf.NAME.forwarding`,
//!   `net.ipv4.conf.NAME-fan.forwarding`, `net.ipv6.conf.NAME.{disable_ipv6,autoconf,
//!   accept_dad,forwarding,force_forwarding}`): they go with the interfaces;
//! - `net.ipv4.conf.UPLINK.forwarding=1` on the interfaces of the IPv4 default routes (the
//!   replies to NATed traffic come in there and must be forwarded to the bridge), and
//!   `net.ipv6.conf.UPLINK.force_forwarding=1` likewise for IPv6 on kernels that have it
//!   (6.17+): recorded with their original values in `STATE_DIR/sysctl.json` and restored
//!   (see [`crate::sysctl`]). The global switches (`net.ipv4.ip_forward`,
//!   `net.ipv6.conf.all.forwarding`) are never touched; on kernels without per-interface IPv6
//!   forwarding, instances' IPv6 traffic leaves the bridge only if the administrator enabled
//!   global IPv6 forwarding. Uplinks are those of the default routes when the network
//!   (re)starts; a default route that moves later needs a network restart.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use async_trait::async_trait;
use lxd_core::network::{Lease, NetworkDriver, NetworkInfo, NetworkState, StaticLease};
use lxd_core::store::ConfigMap;
use tokio::sync::Mutex;

use crate::cidr::{Cidr, Mac};
use crate::config::{self, BridgeConfig};
use crate::dnsmasq::{self, BridgeAddrs, Supervisor};
use crate::error::{NetError, Result};
use crate::fan::{self, Underlay};
use crate::names;
use crate::netlink::{LinkChange, Netlink};
use crate::nft;
use crate::state;
use crate::subnet::{self, Used};
use crate::sysctl;

/// The `bridge` network type (standard and fan modes).
#[derive(Default)]
pub struct BridgeDriver {
    dnsmasq: Mutex<HashMap<String, Supervisor>>,
}

impl BridgeDriver {
    /// A driver with no running networks.
    pub fn new() -> BridgeDriver {
        BridgeDriver::default()
    }

    /// The pid of the dnsmasq serving `network`, when this driver runs one.
    pub async fn dnsmasq_pid(&self, network: &str) -> Option<i32> {
        self.dnsmasq
            .lock()
            .await
            .get(network)
            .map(|s| s.pid())
            .filter(|p| *p > 0)
    }

    /// How many times the dnsmasq of `network` was restarted after dying.
    pub async fn dnsmasq_restarts(&self, network: &str) -> u32 {
        self.dnsmasq
            .lock()
            .await
            .get(network)
            .map_or(0, |s| s.restarts())
    }

    async fn prepare_inner(
        &self,
        name: &str,
        config: &ConfigMap,
        others: &[NetworkInfo],
    ) -> Result<ConfigMap> {
        names::check_network_name(name, config::is_fan(config))?;
        config::check_keys(name, config)?;
        let mut c: ConfigMap = config
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        config::fill_defaults(&mut c, ipv6_enabled());

        let nl = Netlink::new()?;
        let tunnel = fan::tunnel_name(name);
        let own = [name, tunnel.as_str()];
        let host = subnet::host_subnets(&nl, &own).await?;
        let nets = subnet::network_subnets(name, others);
        let all: Vec<Used> = host.iter().chain(nets.iter()).cloned().collect();

        if c.get("ipv4.address").map(String::as_str) == Some("auto") {
            c.insert("ipv4.address".into(), subnet::pick_v4(&all)?.to_string());
        }
        if c.get("ipv6.address").map(String::as_str) == Some("auto") {
            c.insert("ipv6.address".into(), subnet::pick_v6(&all)?.to_string());
        }
        if c.get("fan.underlay_subnet").map(String::as_str) == Some("auto") {
            c.insert(
                "fan.underlay_subnet".into(),
                default_gateway_subnet(&nl).await?.to_string(),
            );
        }

        let cfg = BridgeConfig::parse(name, &c)?;
        // Other managed networks and addresses of other interfaces must not overlap (routes
        // may: a broad route does not make an explicitly chosen subnet unusable).
        let addresses: Vec<Used> = host
            .iter()
            .filter(|u| u.by.starts_with("address "))
            .cloned()
            .collect();
        let checks = [
            ("ipv4.address", cfg.ipv4_scope()),
            ("ipv6.address", cfg.ipv6.map(|c| c.subnet())),
        ];
        for (key, s) in checks {
            let Some(s) = s else { continue };
            let key = if cfg.fan.is_some() && key == "ipv4.address" {
                "fan.overlay_subnet"
            } else {
                key
            };
            if let Some(u) =
                subnet::first_overlap(&s, &nets).or_else(|| subnet::first_overlap(&s, &addresses))
            {
                return Err(NetError::Overlap {
                    network: name.to_string(),
                    key,
                    subnet: s.to_string(),
                    other: u.by.clone(),
                });
            }
        }
        Ok(c)
    }

    async fn create_inner(&self, net: &NetworkInfo) -> Result<()> {
        let t = Instant::now();
        let cfg = BridgeConfig::parse(&net.name, &net.config)?;
        let nl = Netlink::new()?;
        if nl.link(&net.name).await?.is_some() {
            return Err(NetError::AlreadyExists {
                what: "interface".into(),
                name: net.name.clone(),
            });
        }
        if let Err(e) = self.setup(net, &cfg, None).await {
            if let Err(e2) = self.teardown(net).await {
                tracing::warn!(network = %net.name, error = %e2, "cleanup after a failed create");
            }
            return Err(e);
        }
        tracing::info!(network = %net.name, elapsed = ?t.elapsed(), "network created");
        Ok(())
    }

    /// Brings everything to the configuration `cfg`; idempotent.
    async fn setup(
        &self,
        net: &NetworkInfo,
        cfg: &BridgeConfig,
        old: Option<&BridgeConfig>,
    ) -> Result<()> {
        let name = net.name.as_str();
        make_state_dir(&net.state_dir)?;
        let nl = Netlink::new()?;

        let under = match &cfg.fan {
            Some(f) => Some(fan::find_underlay(&nl, &f.underlay).await?),
            None => None,
        };
        let mtu = match (cfg.mtu, &cfg.fan, &under) {
            (Some(m), _, _) => m,
            (None, Some(f), Some(u)) => u.mtu.saturating_sub(fan::overhead(f.kind)).max(68),
            _ => 1500,
        };
        let mac = cfg.hwaddr.unwrap_or_else(|| match &under {
            Some(u) => names::stable_mac(&format!("{name}/{}", u.addr)),
            None => names::stable_mac(name),
        });

        // The bridge.
        let br = match nl.link(name).await? {
            Some(l) if l.kind.as_deref() == Some("bridge") => l,
            Some(l) => {
                return Err(NetError::AlreadyExists {
                    what: format!(
                        "interface (a {} device, not a bridge)",
                        l.kind.as_deref().unwrap_or("hardware")
                    ),
                    name: name.to_string(),
                })
            }
            None => {
                nl.add_bridge(name, mtu, mac).await?;
                nl.require_link(name).await?
            }
        };
        nl.set_link(
            br.index,
            name,
            &LinkChange {
                up: Some(true),
                mtu: (br.mtu != mtu).then_some(mtu),
                mac: (Mac::from_slice(&br.mac) != Some(mac)).then_some(mac),
                ..LinkChange::default()
            },
        )
        .await?;

        // IPv6 on the bridge.
        let has_v6_stack = Path::new("/proc/sys/net/ipv6").exists();
        if cfg.ipv6.is_some() && !has_v6_stack {
            return Err(NetError::unsupported(
                "ipv6.address",
                "the kernel has no IPv6 support",
            ));
        }
        if has_v6_stack {
            let base = format!("net/ipv6/conf/{name}");
            if cfg.ipv6.is_some() {
                sysctl::write(&format!("{base}/disable_ipv6"), "0")?;
                sysctl::write(&format!("{base}/autoconf"), "0")?;
                sysctl::write(&format!("{base}/accept_dad"), "0")?;
            } else {
                sysctl::write(&format!("{base}/disable_ipv6"), "1")?;
            }
        }

        // Addresses.
        let v4 = match (&cfg.fan, &under) {
            (Some(f), Some(u)) => Some(fan::bridge_address(&f.overlay, &f.underlay, u.addr)),
            _ => cfg.ipv4,
        };
        let want: Vec<Cidr> = v4.into_iter().chain(cfg.ipv6).collect();
        let have: Vec<Cidr> = nl
            .addresses(Some(br.index))
            .await?
            .into_iter()
            .filter(|a| a.scope == "global")
            .map(|a| a.cidr)
            .collect();
        for h in have.iter().filter(|h| !want.contains(h)) {
            nl.del_address(br.index, name, *h).await?;
        }
        for w in want.iter().filter(|w| !have.contains(w)) {
            nl.add_address(br.index, name, *w, !w.is_v4()).await?;
        }

        // The fan tunnel.
        let tunnel = fan::tunnel_name(name);
        match (&cfg.fan, &under) {
            (Some(f), Some(u)) => fan::setup_tunnel(&nl, name, f, u, mtu).await?,
            _ => {
                nl.del_link_by_name(&tunnel).await?;
            }
        }

        // Extra routes to the bridge.
        if let Some(old) = old {
            for r in old.ipv4_routes.iter().chain(&old.ipv6_routes) {
                if !cfg.ipv4_routes.contains(r) && !cfg.ipv6_routes.contains(r) {
                    if let Err(e) = nl.del_route(*r, None, br.index).await {
                        tracing::debug!(route = %r, error = %e, "old route already gone");
                    }
                }
            }
        }
        for r in cfg.ipv4_routes.iter().chain(&cfg.ipv6_routes) {
            nl.add_route(*r, None, br.index, false).await?;
        }

        // Forwarding.
        self.apply_forwarding(&nl, net, cfg, under.as_ref()).await?;

        // Firewall and NAT.
        nft::apply(name, &nft::ruleset(cfg)).await?;

        // DNS and DHCP.
        let addrs = BridgeAddrs {
            ipv4: v4,
            ipv6: cfg.ipv6,
            mtu,
        };
        self.ensure_dnsmasq(net, cfg, &addrs).await
    }

    async fn apply_forwarding(
        &self,
        nl: &Netlink,
        net: &NetworkInfo,
        cfg: &BridgeConfig,
        under: Option<&Underlay>,
    ) -> Result<()> {
        let name = net.name.as_str();
        let tunnel = fan::tunnel_name(name);
        let mut ledger: Vec<(String, String)> = Vec::new();
        let v4 = cfg.ipv4_routing && (cfg.ipv4.is_some() || cfg.fan.is_some());
        sysctl::write(
            &format!("net/ipv4/conf/{name}/forwarding"),
            if v4 { "1" } else { "0" },
        )?;
        if v4 {
            if under.is_some() {
                sysctl::write(&format!("net/ipv4/conf/{tunnel}/forwarding"), "1")?;
            }
            for up in default_route_devices(nl, true).await? {
                if up != name && up != tunnel {
                    ledger.push((format!("net/ipv4/conf/{up}/forwarding"), "1".into()));
                }
            }
        }
        let v6 = cfg.ipv6_routing && cfg.ipv6.is_some();
        let force = format!("net/ipv6/conf/{name}/force_forwarding");
        if !v6 && sysctl::read(&force)?.as_deref() == Some("1") {
            sysctl::write(&force, "0")?;
        }
        if v6 {
            sysctl::write(&format!("net/ipv6/conf/{name}/forwarding"), "1")?;
            if sysctl::read(&force)?.is_some() {
                sysctl::write(&force, "1")?;
                for up in default_route_devices(nl, false).await? {
                    if up != name {
                        ledger.push((format!("net/ipv6/conf/{up}/force_forwarding"), "1".into()));
                    }
                }
            } else if sysctl::read("net/ipv6/conf/all/forwarding")?.as_deref() != Some("1") {
                tracing::warn!(
                    network = name,
                    "this kernel has no per-interface IPv6 forwarding and net.ipv6.conf.all.forwarding is 0: instances' IPv6 traffic stays on the bridge"
                );
            }
        }
        sysctl::apply(&net.state_dir, &ledger)
    }

    async fn ensure_dnsmasq(
        &self,
        net: &NetworkInfo,
        cfg: &BridgeConfig,
        addrs: &BridgeAddrs,
    ) -> Result<()> {
        let name = net.name.as_str();
        let dir = net.state_dir.as_path();
        let mut running = self.dnsmasq.lock().await;
        if !cfg.uses_dnsmasq() {
            if let Some(s) = running.remove(name) {
                s.stop().await;
            }
            return dnsmasq::kill_stale(name, dir).await;
        }
        let hosts = dir.join(dnsmasq::HOSTS);
        if !hosts.exists() {
            dnsmasq::write_hosts(dir, &[])?;
        }
        let raw_path = dir.join(dnsmasq::RAW);
        let raw_before = std::fs::read_to_string(&raw_path).ok();
        let raw_now = cfg.raw_dnsmasq.as_ref().map(|r| format!("{r}\n"));
        if raw_before != raw_now {
            match &raw_now {
                Some(r) => {
                    std::fs::write(&raw_path, r).map_err(|e| NetError::io("write", &raw_path, e))?
                }
                None => {
                    let _ = std::fs::remove_file(&raw_path);
                }
            }
        }
        let args = dnsmasq::args(cfg, addrs, dir, dnsmasq::unprivileged_user(dir));
        if let Some(s) = running.get(name) {
            if s.args() == args.as_slice() && raw_before == raw_now && s.pid() > 0 {
                s.reload();
                return Ok(());
            }
        }
        if let Some(s) = running.remove(name) {
            s.stop().await;
        }
        dnsmasq::kill_stale(name, dir).await?;
        let s = Supervisor::start(name, dir, args).await?;
        running.insert(name.to_string(), s);
        Ok(())
    }

    /// Removes everything the network made; every step runs, the first error is returned.
    async fn teardown(&self, net: &NetworkInfo) -> Result<()> {
        let t = Instant::now();
        let name = net.name.as_str();
        let mut first: Option<NetError> = None;
        let mut keep = |r: Result<()>| {
            if let Err(e) = r {
                tracing::warn!(network = name, error = %e, "stopping network");
                first.get_or_insert(e);
            }
        };
        let sup = self.dnsmasq.lock().await.remove(name);
        if let Some(s) = sup {
            s.stop().await;
        }
        keep(dnsmasq::kill_stale(name, &net.state_dir).await);
        keep(nft::delete(name).await);
        keep(sysctl::release_all(&net.state_dir));
        match Netlink::new() {
            Ok(nl) => {
                keep(
                    nl.del_link_by_name(&fan::tunnel_name(name))
                        .await
                        .map(|_| ()),
                );
                keep(nl.del_link_by_name(name).await.map(|_| ()));
            }
            Err(e) => keep(Err(e)),
        }
        tracing::info!(network = name, elapsed = ?t.elapsed(), "network stopped");
        first.map_or(Ok(()), Err)
    }

    async fn leases_inner(&self, net: &NetworkInfo) -> Result<Vec<Lease>> {
        let path = net.state_dir.join(dnsmasq::LEASES);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(NetError::io("read", &path, e)),
        };
        let statics = dnsmasq::read_hosts(&net.state_dir)?;
        let mut out: Vec<Lease> = Vec::new();
        for mut l in dnsmasq::parse_leases(&text) {
            let st = statics
                .iter()
                .find(|s| s.hwaddr.eq_ignore_ascii_case(&l.hwaddr));
            if let Some(s) = st {
                if s.ipv4 == l.address {
                    continue; // listed below as static
                }
                if l.hostname.is_empty() {
                    l.hostname = s.hostname.clone();
                }
            }
            out.push(l);
        }
        out.extend(statics.into_iter().map(|s| Lease {
            hostname: s.hostname,
            hwaddr: s.hwaddr,
            address: s.ipv4,
            kind: "static".into(),
        }));
        Ok(out)
    }

    async fn set_static_leases_inner(
        &self,
        net: &NetworkInfo,
        leases: &[StaticLease],
    ) -> Result<()> {
        let cfg = BridgeConfig::parse(&net.name, &net.config)?;
        let subnet = match cfg.fan {
            Some(_) => {
                let nl = Netlink::new()?;
                match nl.link(&net.name).await? {
                    Some(l) => nl
                        .addresses(Some(l.index))
                        .await?
                        .into_iter()
                        .find(|a| a.cidr.is_v4() && a.scope == "global")
                        .map(|a| a.cidr),
                    None => None,
                }
            }
            None => cfg.ipv4,
        };
        if subnet.is_none() && cfg.fan.is_none() {
            if let Some(l) = leases.first() {
                return Err(NetError::invalid(
                    format!("static lease of {}: ipv4.address", l.hostname),
                    &l.ipv4,
                    format!(
                        "network {} has no IPv4 address (ipv4.address=none)",
                        net.name
                    ),
                ));
            }
        }
        for (i, l) in leases.iter().enumerate() {
            dnsmasq::check_static_lease(&net.name, l, subnet)?;
            for other in &leases[..i] {
                if other.ipv4 == l.ipv4 {
                    return Err(NetError::invalid(
                        format!("static lease of {}: ipv4.address", l.hostname),
                        &l.ipv4,
                        format!("already the static address of {}", other.hostname),
                    ));
                }
            }
        }
        make_state_dir(&net.state_dir)?;
        dnsmasq::write_hosts(&net.state_dir, leases)?;
        if let Some(s) = self.dnsmasq.lock().await.get(&net.name) {
            s.reload();
        }
        Ok(())
    }

    async fn state_inner(&self, net: &NetworkInfo) -> Result<NetworkState> {
        let nl = Netlink::new()?;
        let link = nl.link(&net.name).await?.ok_or_else(|| {
            NetError::not_found("interface of network (is it started?)", net.name.clone())
        })?;
        state::link_state(&nl, &link).await
    }
}

fn ipv6_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/default/disable_ipv6")
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn make_state_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io("create", dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| NetError::io("chmod", dir, e))?;
    }
    Ok(())
}

/// The interfaces of the main table's default routes of one family.
async fn default_route_devices(nl: &Netlink, v4: bool) -> Result<Vec<String>> {
    let links = nl.links().await?;
    let mut out = Vec::new();
    for r in nl.routes(v4).await? {
        if r.dst.prefix != 0 || r.table != 254 || !r.unicast {
            continue;
        }
        if let Some(l) = r.oif.and_then(|i| links.iter().find(|l| l.index == i)) {
            if !out.contains(&l.name) {
                out.push(l.name.clone());
            }
        }
    }
    Ok(out)
}

/// The IPv4 subnet of the interface of the default route (`fan.underlay_subnet=auto`).
async fn default_gateway_subnet(nl: &Netlink) -> Result<Cidr> {
    let devs = default_route_devices(nl, true).await?;
    let bad = |r: String| NetError::invalid("fan.underlay_subnet", "auto", r);
    let dev = match devs.as_slice() {
        [d] => d.clone(),
        [] => {
            return Err(bad(
                "there is no IPv4 default route to take the underlay from".into(),
            ))
        }
        _ => {
            return Err(bad(format!(
                "default routes leave through several interfaces ({}), choose the underlay subnet",
                devs.join(", ")
            )))
        }
    };
    let link = nl.require_link(&dev).await?;
    nl.addresses(Some(link.index))
        .await?
        .into_iter()
        .find(|a| a.cidr.is_v4() && a.scope == "global")
        .map(|a| a.cidr.subnet())
        .ok_or_else(|| {
            bad(format!(
                "the default route's interface {dev} has no IPv4 address"
            ))
        })
}

#[async_trait]
impl NetworkDriver for BridgeDriver {
    fn kind(&self) -> &'static str {
        "bridge"
    }

    async fn prepare(
        &self,
        name: &str,
        config: &ConfigMap,
        others: &[NetworkInfo],
    ) -> lxd_core::Result<ConfigMap> {
        Ok(self.prepare_inner(name, config, others).await?)
    }

    async fn create(&self, net: &NetworkInfo) -> lxd_core::Result<()> {
        Ok(self.create_inner(net).await?)
    }

    async fn start(&self, net: &NetworkInfo) -> lxd_core::Result<()> {
        let cfg = BridgeConfig::parse(&net.name, &net.config)?;
        Ok(self.setup(net, &cfg, None).await?)
    }

    async fn stop(&self, net: &NetworkInfo) -> lxd_core::Result<()> {
        Ok(self.teardown(net).await?)
    }

    async fn update(&self, old: &NetworkInfo, new: &NetworkInfo) -> lxd_core::Result<()> {
        let cfg = BridgeConfig::parse(&new.name, &new.config)?;
        let old_cfg = BridgeConfig::parse(&old.name, &old.config).ok();
        Ok(self.setup(new, &cfg, old_cfg.as_ref()).await?)
    }

    async fn state(&self, net: &NetworkInfo) -> lxd_core::Result<NetworkState> {
        Ok(self.state_inner(net).await?)
    }

    async fn leases(&self, net: &NetworkInfo) -> lxd_core::Result<Vec<Lease>> {
        Ok(self.leases_inner(net).await?)
    }

    async fn set_static_leases(
        &self,
        net: &NetworkInfo,
        leases: &[StaticLease],
    ) -> lxd_core::Result<()> {
        Ok(self.set_static_leases_inner(net, leases).await?)
    }
}
