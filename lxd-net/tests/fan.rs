//! The fan overlay for real: three "hosts" (namespaces) on an underlay 10.77.0.0/16 joined by
//! a bridge in a "switch" namespace, a fan network on each, a "container" on each that gets
//! its 240.x address by DHCP, pings across hosts, and the traffic seen on the underlay as
//! vxlan.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::*;
use lxd_core::network::{NetworkDriver, NetworkInfo, NicAttachment, NicDevice};
use lxd_core::store::ConfigMap;
use lxd_net::BridgeDriver;

struct Host {
    ns: Netns,
    rt: NsRuntime,
    drv: Arc<BridgeDriver>,
    underlay: String,
}

/// A switch namespace with bridge `sw0`, and hosts plugged into it with `ul0` addresses.
fn underlay(addrs: &[&str]) -> Result<(Netns, Vec<Host>)> {
    let sw = Netns::new("sw")?;
    sw.exec("ip link add sw0 type bridge\nip link set sw0 up")?;
    let mut hosts = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let ns = Netns::new(&format!("fh{i}"))?;
        ns.exec(&format!(
            "ip link add ul0 type veth peer name p{i} netns {sw}\n\
             ip addr add {a}/16 dev ul0\nip link set ul0 up",
            sw = sw.name
        ))?;
        sw.exec(&format!("ip link set p{i} master sw0\nip link set p{i} up"))?;
        let rt = NsRuntime::new(&ns)?;
        hosts.push(Host {
            ns,
            rt,
            drv: Arc::new(BridgeDriver::new()),
            underlay: a.to_string(),
        });
    }
    Ok((sw, hosts))
}

fn cfg(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn prepare_create(
    h: &Host,
    dir: &TestDir,
    name: &str,
    c: ConfigMap,
) -> lxd_core::Result<NetworkInfo> {
    let (d, name2) = (h.drv.clone(), name.to_string());
    let filled =
        h.rt.run(move || async move { d.prepare(&name2, &c, &[]).await })?;
    let net = NetworkInfo {
        config: filled,
        ..net_info(name, &[], &dir.join(&h.ns.name))
    };
    let (d, n) = (h.drv.clone(), net.clone());
    h.rt.run(move || async move { d.create(&n).await })?;
    Ok(net)
}

fn stop(h: &Host, net: &NetworkInfo) -> Result<()> {
    let (d, n) = (h.drv.clone(), net.clone());
    h.rt.run(move || async move { d.stop(&n).await })?;
    Ok(())
}

fn plug(h: &Host, c: &Container, net: &str, mac: &str) -> Result<(NicDevice, NicAttachment)> {
    let nic = NicDevice {
        name: "eth0".into(),
        config: cfg(&[("type", "nic"), ("network", net)]),
        bridge: Some(net.into()),
        hwaddr: mac.into(),
    };
    let (inst, n2, pid) = (c.name.clone(), nic.clone(), c.pid());
    let att =
        h.rt.run(move || async move { lxd_net::nic_driver().attach(&inst, &n2, pid).await })
            .with_context(|| format!("attach {} on {}", c.name, h.ns.name))?;
    Ok((nic, att))
}

fn unplug(h: &Host, c: &Container, nic: &NicDevice, att: &NicAttachment) -> Result<()> {
    let (inst, n2, a2, pid) = (c.name.clone(), nic.clone(), att.clone(), c.pid());
    h.rt.run(move || async move {
        lxd_net::nic_driver()
            .detach(&inst, &n2, &a2, Some(pid))
            .await
    })?;
    Ok(())
}

#[test]
fn fan_vxlan_three_hosts_dhcp_and_ping_across_the_underlay() -> Result<()> {
    let dir = TestDir::new("fan")?;
    let (sw, hosts) = underlay(&["10.77.1.1", "10.77.2.2", "10.77.3.3"])?;
    // The first host finds the underlay from its default route (fan.underlay_subnet=auto).
    hosts[0].ns.exec("ip route add default dev ul0")?;
    let peers = "10.77.1.1,10.77.2.2,10.77.3.3";
    let mut nets = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let mut c = cfg(&[
            ("bridge.mode", "fan"),
            ("fan.peers", peers),
            ("raw.dnsmasq", "no-resolv"),
        ]);
        if i > 0 {
            c.insert("fan.underlay_subnet".into(), "10.77.0.0/16".into());
        }
        let net = prepare_create(h, &dir, "fan0", c)?;
        ensure!(
            net.config.get("fan.underlay_subnet").map(String::as_str) == Some("10.77.0.0/16"),
            "{:?}",
            net.config
        );
        nets.push(net);
    }
    // Host 10.77.2.2 owns 240.2.2.0/24; routes to the others go through the vxlan device.
    let br = hosts[1].ns.exec("ip -4 -o addr show dev fan0")?;
    ensure!(br.contains("240.2.2.1/24"), "{br}");
    let vx = hosts[1].ns.exec("ip -d -o link show dev fan0-fan")?;
    ensure!(
        vx.contains("vxlan id 15728640")
            && vx.contains("dstport 8472")
            && vx.contains("local 10.77.2.2"),
        "{vx}"
    );
    ensure!(vx.contains("nolearning"), "{vx}");
    let r = hosts[1].ns.exec("ip route show 240.3.3.0/24")?;
    ensure!(
        r.contains("via 240.3.3.1 dev fan0-fan") && r.contains("onlink"),
        "{r}"
    );
    let fdb = hosts[1].ns.exec("bridge fdb show dev fan0-fan")?;
    ensure!(fdb.contains("02:fa:0a:4d:03:03 dst 10.77.3.3"), "{fdb}");

    // A container per host, addressed by its host's dnsmasq.
    let mut cs = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let c = Container::new(&format!("fc{i}"), &dir)?;
        let (nic, att) = plug(h, &c, "fan0", &format!("00:16:3e:fa:00:0{i}"))?;
        let ip = c.dhcp("eth0")?;
        let octets: Vec<&str> = h.underlay.split('.').collect();
        ensure!(
            ip.starts_with(&format!("240.{}.{}.", octets[2], octets[3])),
            "{} got {ip}",
            c.name
        );
        let mtu = c.exec("cat /sys/class/net/eth0/mtu")?;
        ensure!(mtu.trim() == "1450", "fan MTU inside is {mtu}");
        cs.push((c, nic, att, ip));
    }

    // Capture the underlay while the containers ping each other across hosts.
    let cap = dir.join("vxlan.txt");
    let err = dir.join("tcpdump.err");
    let tcpdump = sw.spawn(&[
        "sh",
        "-c",
        &format!(
            "exec tcpdump -i sw0 -n -l -U -T vxlan udp port 8472 > {} 2> {}",
            cap.display(),
            err.display()
        ),
    ])?;
    ensure!(
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("listening on")),
        "tcpdump did not start: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        let (from, to) = (&cs[a].0, &cs[b].3);
        ensure!(from.ping(to), "{} cannot ping {to}", from.name);
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(tcpdump);
    let seen = std::fs::read_to_string(&cap)?;
    let vxlan: Vec<&str> = seen
        .lines()
        .filter(|l| l.contains("VXLAN") && l.contains("vni 15728640"))
        .collect();
    ensure!(
        vxlan.len() >= 6,
        "expected vxlan packets on the underlay, saw:\n{seen}"
    );
    for (a, b) in [
        ("10.77.1.1", "10.77.2.2"),
        ("10.77.2.2", "10.77.3.3"),
        ("10.77.3.3", "10.77.1.1"),
    ] {
        ensure!(
            vxlan
                .iter()
                .any(|l| l.contains(&format!("IP {a}.")) && l.contains(&format!("> {b}.8472"))),
            "no vxlan from {a} to {b}:\n{seen}"
        );
    }

    // Everything goes on stop.
    for (i, h) in hosts.iter().enumerate() {
        let (c, nic, att, _) = &cs[i];
        unplug(h, c, nic, att)?;
        stop(h, &nets[i])?;
        assert_nothing_left(&h.ns, "fan0", &dir.join(&h.ns.name))?;
    }
    Ok(())
}

#[test]
fn fan_ipip_or_a_clear_refusal() -> Result<()> {
    let dir = TestDir::new("ipip")?;
    let (_sw, hosts) = underlay(&["10.77.1.1", "10.77.2.2"])?;
    let probe = Netns::new("ipprobe")?;
    let ipip = probe.try_exec("ip link add t0 type ipip local 10.1.1.1").0;
    let peers = "10.77.1.1,10.77.2.2";
    let c = || {
        cfg(&[
            ("bridge.mode", "fan"),
            ("fan.type", "ipip"),
            ("fan.underlay_subnet", "10.77.0.0/16"),
            ("fan.peers", peers),
            ("raw.dnsmasq", "no-resolv"),
        ])
    };
    if !ipip {
        let e = prepare_create(&hosts[0], &dir, "fanip0", c()).unwrap_err();
        let msg = e.to_string();
        ensure!(
            msg.contains("fan.type=ipip") && msg.contains("CONFIG_NET_IPIP"),
            "{msg}"
        );
        assert_nothing_left(&hosts[0].ns, "fanip0", &dir.join(&hosts[0].ns.name))?;
        eprintln!("ipip: the running kernel lacks CONFIG_NET_IPIP; checked the refusal only");
        return Ok(());
    }
    let mut nets = Vec::new();
    for h in &hosts {
        nets.push(prepare_create(h, &dir, "fanip0", c())?);
    }
    let r = hosts[0].ns.exec("ip route show 240.2.2.0/24")?;
    ensure!(r.contains("via 10.77.2.2 dev fanip0-fan"), "{r}");
    let c0 = Container::new("ic0", &dir)?;
    let c1 = Container::new("ic1", &dir)?;
    let (n0, a0) = plug(&hosts[0], &c0, "fanip0", "00:16:3e:fb:00:00")?;
    let (n1, a1) = plug(&hosts[1], &c1, "fanip0", "00:16:3e:fb:00:01")?;
    let ip0 = c0.dhcp("eth0")?;
    let ip1 = c1.dhcp("eth0")?;
    ensure!(
        ip0.starts_with("240.1.1.") && ip1.starts_with("240.2.2."),
        "{ip0} {ip1}"
    );
    ensure!(c0.ping(&ip1), "ipip fan: no ping");
    unplug(&hosts[0], &c0, &n0, &a0)?;
    unplug(&hosts[1], &c1, &n1, &a1)?;
    for (h, n) in hosts.iter().zip(&nets) {
        stop(h, n)?;
        assert_nothing_left(&h.ns, "fanip0", &dir.join(&h.ns.name))?;
    }
    Ok(())
}
