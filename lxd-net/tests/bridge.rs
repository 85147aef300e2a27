//! The managed bridge, for real, inside network namespaces the tests create: a "host"
//! namespace runs the driver, "containers" are namespaces with a sleeping init, and an
//! "outside" namespace behind the host's default route stands for the rest of the world.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::*;
use lxd_core::network::{NetworkDriver, NetworkInfo, NicAttachment, NicDevice, StaticLease};
use lxd_core::store::ConfigMap;
use lxd_net::BridgeDriver;

/// A host namespace with an uplink `up0` (203.0.113.1/24, default route) to an "outside"
/// namespace (203.0.113.2) that runs a TCP server reporting who connected.
struct World {
    dir: TestDir,
    host: Netns,
    outside: Netns,
    rt: NsRuntime,
    out_rt: NsRuntime,
    peers: std::sync::mpsc::Receiver<std::net::SocketAddr>,
}

fn world(tag: &str) -> Result<World> {
    let dir = TestDir::new(tag)?;
    let host = Netns::new(&format!("{tag}h"))?;
    let outside = Netns::new(&format!("{tag}o"))?;
    host.exec(&format!(
        "ip link add up0 type veth peer name eth0 netns {o}\n\
         ip addr add 203.0.113.1/24 dev up0\nip -6 addr add 2001:db8:1::1/64 dev up0 nodad\n\
         ip link set up0 up\n\
         ip route add default via 203.0.113.2\nip -6 route add default via 2001:db8:1::2",
        o = outside.name
    ))?;
    outside.exec(
        "ip addr add 203.0.113.2/24 dev eth0\nip -6 addr add 2001:db8:1::2/64 dev eth0 nodad\nip link set eth0 up",
    )?;
    let rt = NsRuntime::new(&host)?;
    let out_rt = NsRuntime::new(&outside)?;
    let (tx, peers) = std::sync::mpsc::channel();
    out_rt.run(move || async move {
        use tokio::io::AsyncWriteExt;
        for addr in ["203.0.113.2:8080", "[2001:db8:1::2]:8080"] {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .expect("bind the outside server");
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Ok((mut s, peer)) = l.accept().await {
                    let _ = tx.send(peer);
                    let _ = s.write_all(b"hello from outside\n").await;
                }
            });
        }
    });
    Ok(World {
        dir,
        host,
        outside,
        rt,
        out_rt,
        peers,
    })
}

fn cfg(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn prepare(
    rt: &NsRuntime,
    d: &Arc<BridgeDriver>,
    name: &str,
    c: ConfigMap,
    others: Vec<NetworkInfo>,
) -> lxd_core::Result<ConfigMap> {
    let d = d.clone();
    let name = name.to_string();
    rt.run(move || async move { d.prepare(&name, &c, &others).await })
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn create(rt: &NsRuntime, d: &Arc<BridgeDriver>, net: &NetworkInfo) -> Result<Duration> {
    let (d, n) = (d.clone(), net.clone());
    let (r, el) = timed(|| rt.run(move || async move { d.create(&n).await }));
    r.with_context(|| format!("create {}", net.name))?;
    Ok(el)
}

fn stop(rt: &NsRuntime, d: &Arc<BridgeDriver>, net: &NetworkInfo) -> Result<Duration> {
    let (d, n) = (d.clone(), net.clone());
    let (r, el) = timed(|| rt.run(move || async move { d.stop(&n).await }));
    r.with_context(|| format!("stop {}", net.name))?;
    Ok(el)
}

fn bridged(dev: &str, network: &str, mac: &str, extra: &[(&str, &str)]) -> NicDevice {
    let mut config = cfg(&[("type", "nic"), ("network", network)]);
    config.extend(cfg(extra));
    NicDevice {
        name: dev.into(),
        config,
        bridge: Some(network.into()),
        hwaddr: mac.into(),
    }
}

fn attach(
    rt: &NsRuntime,
    inst: &str,
    nic: &NicDevice,
    pid: i32,
) -> Result<(NicAttachment, Duration)> {
    let what = format!("attach {} to {inst}", nic.name);
    let (inst, nic) = (inst.to_string(), nic.clone());
    let (r, el) = timed(|| {
        rt.run(move || async move { lxd_net::nic_driver().attach(&inst, &nic, pid).await })
    });
    Ok((r.context(what)?, el))
}

fn detach(
    rt: &NsRuntime,
    inst: &str,
    nic: &NicDevice,
    att: &NicAttachment,
    pid: Option<i32>,
) -> Result<()> {
    let (inst, nic, att) = (inst.to_string(), nic.clone(), att.clone());
    rt.run(move || async move { lxd_net::nic_driver().detach(&inst, &nic, &att, pid).await })
        .context("detach")?;
    Ok(())
}

#[test]
fn bridge_dhcp_dns_nat_state_leases_and_clean_stop() -> Result<()> {
    let w = world("life")?;
    let d = Arc::new(BridgeDriver::new());
    let config = prepare(
        &w.rt,
        &d,
        "lxdt0",
        cfg(&[
            ("ipv4.address", "10.123.45.1/24"),
            ("ipv4.nat", "true"),
            ("ipv6.address", "none"),
            ("bridge.mtu", "1450"),
            ("raw.dnsmasq", "no-resolv"),
        ]),
        vec![],
    )?;
    ensure!(config.get("ipv6.address").map(String::as_str) == Some("none"));
    let net = NetworkInfo {
        config,
        ..net_info("lxdt0", &[], &w.dir.path)
    };
    let t_create = create(&w.rt, &d, &net)?;

    // The bridge, its address, table, dnsmasq and forwarding.
    let addr = w.host.exec("ip -4 -o addr show dev lxdt0")?;
    ensure!(addr.contains("10.123.45.1/24"), "{addr}");
    let table = w.host.exec("nft list table inet lxdrs_lxdt0")?;
    ensure!(
        table.contains("ip saddr 10.123.45.0/24 ip daddr != 10.123.45.0/24 masquerade"),
        "{table}"
    );
    let dpid = {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_pid("lxdt0").await })
    }
    .context("dnsmasq runs")?;
    ensure!(alive(dpid));
    ensure!(sysctl(&w.host, "net/ipv4/conf/lxdt0/forwarding")? == "1");
    ensure!(sysctl(&w.host, "net/ipv4/conf/up0/forwarding")? == "1");
    ensure!(
        sysctl(&w.host, "net/ipv4/ip_forward")? == "0",
        "the global switch stays off"
    );

    // Two containers on it.
    let c1 = Container::new("c1", &w.dir)?;
    let c2 = Container::new("c2", &w.dir)?;
    let n1 = bridged("eth0", "lxdt0", "00:16:3e:aa:00:01", &[]);
    let n2 = bridged("eth0", "lxdt0", "00:16:3e:aa:00:02", &[]);
    let (a1, t_attach) = attach(&w.rt, "c1", &n1, c1.pid())?;
    let (a2, _) = attach(&w.rt, "c2", &n2, c2.pid())?;
    let host1 = a1.host_name.clone().context("host_name")?;
    ensure!(host1.starts_with("veth") && host1.len() == 12, "{host1}");
    let master = w.host.exec(&format!("ip -o link show dev {host1}"))?;
    ensure!(
        master.contains("master lxdt0") && master.contains("state UP"),
        "{master}"
    );
    let inside = c1.exec("ip -o link show dev eth0")?;
    ensure!(
        inside.contains("00:16:3e:aa:00:01") && inside.contains("mtu 1450"),
        "{inside}"
    );

    // DHCP, gateway, each other, DNS.
    let ip1 = c1.dhcp("eth0")?;
    let ip2 = c2.dhcp("eth0")?;
    for ip in [&ip1, &ip2] {
        ensure!(
            ip.starts_with("10.123.45.") && ip != "10.123.45.1",
            "lease {ip}"
        );
    }
    ensure!(c1.ping("10.123.45.1"), "c1 cannot ping the gateway");
    ensure!(c1.ping(&ip2), "c1 cannot ping c2");
    let ns = c1.exec("busybox nslookup c2.lxd 10.123.45.1")?;
    ensure!(ns.contains(&ip2), "c2.lxd did not resolve to {ip2}: {ns}");

    // Outside through NAT: the server sees the host's uplink address.
    let reply = c1.exec("busybox nc -w 3 203.0.113.2 8080 </dev/null")?;
    ensure!(reply.contains("hello from outside"), "{reply}");
    let peer = w.peers.recv_timeout(Duration::from_secs(5))?;
    ensure!(
        peer.ip().to_string() == "203.0.113.1",
        "the server saw {peer}, not the NAT address"
    );

    // Leases and state.
    let leases = {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.leases(&n).await })?
    };
    for (name, ip, mac) in [
        ("c1", &ip1, "00:16:3e:aa:00:01"),
        ("c2", &ip2, "00:16:3e:aa:00:02"),
    ] {
        ensure!(
            leases.iter().any(|l| l.hostname == name
                && &l.address == ip
                && l.hwaddr == mac
                && l.kind == "dynamic"),
            "lease of {name} missing: {leases:?}"
        );
    }
    let st = {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.state(&n).await })?
    };
    ensure!(
        st.state == "up" && st.mtu == 1450 && st.kind == "broadcast",
        "{st:?}"
    );
    ensure!(st.hwaddr.starts_with("00:16:3e:"), "{st:?}");
    ensure!(
        st.addresses.iter().any(|a| a.family == "inet"
            && a.address == "10.123.45.1"
            && a.netmask == "24"
            && a.scope == "global"),
        "{st:?}"
    );
    ensure!(
        st.counters.bytes_received > 0 && st.counters.packets_sent > 0,
        "{st:?}"
    );

    // Detach both, stop, nothing left.
    detach(&w.rt, "c2", &n2, &a2, Some(c2.pid()))?;
    ensure!(
        !w.host.has_link(a2.host_name.as_deref().unwrap_or("?"))?,
        "host veth of c2 left"
    );
    ensure!(!c2.ns.has_link("eth0")?, "eth0 of c2 left");
    detach(&w.rt, "c1", &n1, &a1, Some(c1.pid()))?;
    let t_stop = stop(&w.rt, &d, &net)?;
    ensure!(!alive(dpid), "dnsmasq {dpid} still runs");
    assert_nothing_left(&w.host, "lxdt0", &w.dir.path)?;
    eprintln!(
        "timings: bridge create {t_create:?}, nic attach {t_attach:?}, bridge stop {t_stop:?}"
    );
    drop(w.out_rt);
    drop(w.outside);
    Ok(())
}

#[test]
fn auto_addresses_avoid_routes_and_other_networks() -> Result<()> {
    let w = world("auto")?;
    // Every 10.x.y.0/24 is routed except 10.255.255.0/24 and 10.255.254.0/24.
    let mut routes = String::from("ip link add rt0 type veth peer name rt1\nip link set rt0 up\n");
    for p in 9..=23u32 {
        let start: u32 = (0xffff_ffffu32 << (33 - p)) & 0x00ff_ffff;
        let a = std::net::Ipv4Addr::from(0x0a00_0000 | start);
        routes.push_str(&format!("ip route add {a}/{p} dev rt0\n"));
    }
    w.host.exec(&routes)?;
    let d = Arc::new(BridgeDriver::new());
    let other = net_info(
        "other0",
        &[
            ("ipv4.address", "10.255.254.1/24"),
            ("ipv6.address", "none"),
        ],
        &w.dir.path,
    );
    let c = prepare(&w.rt, &d, "lxdauto0", ConfigMap::new(), vec![other.clone()])?;
    ensure!(
        c["ipv4.address"] == "10.255.255.1/24",
        "auto picked {} (routes and network other0 leave only 10.255.255.0/24)",
        c["ipv4.address"]
    );
    ensure!(c["ipv4.nat"] == "true", "{c:?}");
    let v6 = c.get("ipv6.address").cloned().unwrap_or_default();
    ensure!(v6.starts_with("fd42:") && v6.ends_with("::1/64"), "{v6}");
    ensure!(c["ipv6.nat"] == "true", "{c:?}");

    // With that last subnet taken by another network too, auto gives up with a clear error.
    let third = net_info(
        "third0",
        &[("ipv4.address", "10.255.255.1/24")],
        &w.dir.path,
    );
    let e = prepare(
        &w.rt,
        &d,
        "lxdauto1",
        cfg(&[("ipv6.address", "none")]),
        vec![other, third],
    )
    .unwrap_err();
    ensure!(e.to_string().contains("no free 10.x.y.0/24"), "{e}");

    // The auto network works, IPv6 included: an instance configures itself from the router
    // advertisements of the bridge's dnsmasq and reaches the outside through IPv6 NAT.
    let net = NetworkInfo {
        config: c,
        ..net_info("lxdauto0", &[], &w.dir.path)
    };
    create(&w.rt, &d, &net)?;
    let a = w.host.exec("ip -o addr show dev lxdauto0")?;
    ensure!(a.contains("10.255.255.1/24") && a.contains(&v6), "{a}");
    ensure!(w
        .host
        .exec("nft list table inet lxdrs_lxdauto0")?
        .contains("ip6 saddr fd42:"));
    let c6 = Container::new("c6", &w.dir)?;
    let nic = bridged("eth0", "lxdauto0", "00:16:3e:66:00:01", &[]);
    let (att, _) = attach(&w.rt, "c6", &nic, c6.pid())?;
    let subnet6 = lxd_net::cidr::Cidr::parse(&v6).context("ipv6.address")?;
    let slaac = || -> Option<String> {
        let out = c6.exec("ip -6 -o addr show dev eth0 scope global").ok()?;
        out.split_whitespace()
            .filter_map(lxd_net::cidr::Cidr::parse)
            .find(|a| subnet6.contains(a.addr))
            .map(|a| a.addr.to_string())
    };
    ensure!(
        wait_for(Duration::from_secs(15), || slaac().is_some()),
        "no SLAAC address in {v6}: {:?}",
        c6.exec("ip -6 addr")
    );
    let gw6 = v6.trim_end_matches("/64");
    ensure!(c6.ping(gw6), "no ping to {gw6}");
    let forced = w
        .host
        .exec("cat /proc/sys/net/ipv6/conf/up0/force_forwarding 2>/dev/null || echo none")?;
    if forced.trim() == "1" {
        let reply = c6.exec("busybox nc -w 3 2001:db8:1::2 8080 </dev/null")?;
        ensure!(reply.contains("hello from outside"), "{reply}");
        let peer = w.peers.recv_timeout(Duration::from_secs(5))?;
        ensure!(
            peer.ip().to_string() == "2001:db8:1::1",
            "the server saw {peer}, not the NAT address"
        );
    } else {
        eprintln!(
            "IPv6 NAT to the outside not checked: the kernel has no per-interface IPv6 forwarding"
        );
    }
    detach(&w.rt, "c6", &nic, &att, Some(c6.pid()))?;
    stop(&w.rt, &d, &net)?;
    assert_nothing_left(&w.host, "lxdauto0", &w.dir.path)?;
    Ok(())
}

#[test]
fn static_lease_is_honoured_and_listed() -> Result<()> {
    let w = world("stat")?;
    let d = Arc::new(BridgeDriver::new());
    let net = net_info(
        "lxds0",
        &[
            ("ipv4.address", "10.77.50.1/24"),
            ("ipv6.address", "none"),
            ("raw.dnsmasq", "no-resolv"),
        ],
        &w.dir.path,
    );
    create(&w.rt, &d, &net)?;
    let c3 = Container::new("c3", &w.dir)?;
    let mac = "00:16:3e:bb:00:03";
    let statics = vec![StaticLease {
        hostname: "c3".into(),
        hwaddr: mac.into(),
        ipv4: "10.77.50.77".into(),
    }];
    {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.set_static_leases(&n, &statics).await })?;
    }
    let nic = bridged("eth0", "lxds0", mac, &[("ipv4.address", "10.77.50.77")]);
    let (att, _) = attach(&w.rt, "c3", &nic, c3.pid())?;
    let ip = c3.dhcp("eth0")?;
    ensure!(ip == "10.77.50.77", "static lease not honoured: got {ip}");
    let ns = c3.exec("busybox nslookup c3.lxd 10.77.50.1")?;
    ensure!(ns.contains("10.77.50.77"), "{ns}");
    let leases = {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.leases(&n).await })?
    };
    ensure!(
        leases.iter().any(|l| l.kind == "static"
            && l.address == "10.77.50.77"
            && l.hostname == "c3"
            && l.hwaddr == mac),
        "{leases:?}"
    );
    ensure!(
        !leases
            .iter()
            .any(|l| l.kind == "dynamic" && l.address == "10.77.50.77"),
        "listed twice: {leases:?}"
    );

    // A lease outside the subnet is refused with the key and value.
    let bad = vec![StaticLease {
        hostname: "c4".into(),
        hwaddr: "00:16:3e:bb:00:04".into(),
        ipv4: "10.77.51.4".into(),
    }];
    let e = {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.set_static_leases(&n, &bad).await })
    }
    .unwrap_err();
    ensure!(
        e.to_string().contains("10.77.51.4") && e.to_string().contains("10.77.50.0/24"),
        "{e}"
    );

    detach(&w.rt, "c3", &nic, &att, Some(c3.pid()))?;
    stop(&w.rt, &d, &net)?;
    assert_nothing_left(&w.host, "lxds0", &w.dir.path)?;
    Ok(())
}

#[test]
fn dnsmasq_is_restarted_after_being_killed() -> Result<()> {
    let w = world("kill")?;
    let d = Arc::new(BridgeDriver::new());
    let net = net_info(
        "lxdk0",
        &[
            ("ipv4.address", "10.77.60.1/24"),
            ("ipv6.address", "none"),
            ("raw.dnsmasq", "no-resolv"),
        ],
        &w.dir.path,
    );
    create(&w.rt, &d, &net)?;
    let pid_of = || {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_pid("lxdk0").await })
    };
    let first = pid_of().context("dnsmasq runs")?;
    sh(&format!("kill -9 {first}"))?;
    ensure!(
        wait_for(Duration::from_secs(10), || pid_of()
            .is_some_and(|p| p != first && alive(p))),
        "dnsmasq was not restarted"
    );
    let restarts = {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_restarts("lxdk0").await })
    };
    ensure!(restarts == 1, "restarts = {restarts}");
    // The new one serves DHCP.
    let c = Container::new("ck", &w.dir)?;
    let nic = bridged("eth0", "lxdk0", "00:16:3e:cc:00:01", &[]);
    let (att, _) = attach(&w.rt, "ck", &nic, c.pid())?;
    let ip = c.dhcp("eth0")?;
    ensure!(ip.starts_with("10.77.60."), "{ip}");
    detach(&w.rt, "ck", &nic, &att, Some(c.pid()))?;
    let second = pid_of().context("dnsmasq runs")?;
    stop(&w.rt, &d, &net)?;
    ensure!(!alive(second), "dnsmasq {second} left running");
    assert_nothing_left(&w.host, "lxdk0", &w.dir.path)?;
    Ok(())
}

#[test]
fn update_reconfigures_a_running_network() -> Result<()> {
    let w = world("upd")?;
    let d = Arc::new(BridgeDriver::new());
    let old = net_info(
        "lxdu0",
        &[
            ("ipv4.address", "10.77.70.1/24"),
            ("ipv6.address", "none"),
            ("raw.dnsmasq", "no-resolv"),
        ],
        &w.dir.path,
    );
    create(&w.rt, &d, &old)?;
    let new = net_info(
        "lxdu0",
        &[
            ("ipv4.address", "10.77.71.1/24"),
            ("ipv4.nat", "true"),
            ("ipv6.address", "none"),
            ("ipv4.dhcp.ranges", "10.77.71.100-10.77.71.110"),
            ("dns.domain", "example"),
            ("ipv4.routes", "192.0.2.0/24"),
            ("raw.dnsmasq", "no-resolv"),
        ],
        &w.dir.path,
    );
    let before = {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_pid("lxdu0").await })
    };
    {
        let (d, o, n) = (d.clone(), old.clone(), new.clone());
        w.rt.run(move || async move { d.update(&o, &n).await })?;
    }
    let a = w.host.exec("ip -4 -o addr show dev lxdu0")?;
    ensure!(
        a.contains("10.77.71.1/24") && !a.contains("10.77.70.1"),
        "{a}"
    );
    ensure!(w
        .host
        .exec("ip route show 192.0.2.0/24")?
        .contains("dev lxdu0"));
    ensure!(w
        .host
        .exec("nft list table inet lxdrs_lxdu0")?
        .contains("10.77.71.0/24"));
    let after = {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_pid("lxdu0").await })
    };
    ensure!(
        after.is_some() && after != before,
        "dnsmasq not restarted with the new arguments"
    );
    let c = Container::new("cu", &w.dir)?;
    let nic = bridged("eth0", "lxdu0", "00:16:3e:dd:00:01", &[]);
    let (att, _) = attach(&w.rt, "cu", &nic, c.pid())?;
    let ip = c.dhcp("eth0")?;
    let last: u32 = ip.rsplit('.').next().unwrap_or("0").parse()?;
    ensure!(
        ip.starts_with("10.77.71.") && (100..=110).contains(&last),
        "lease {ip} outside the new range"
    );
    ensure!(c
        .exec("busybox nslookup cu.example 10.77.71.1")?
        .contains(&ip));
    detach(&w.rt, "cu", &nic, &att, Some(c.pid()))?;
    stop(&w.rt, &d, &new)?;
    assert_nothing_left(&w.host, "lxdu0", &w.dir.path)?;
    Ok(())
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() -> Result<()> {
    let w = world("bad")?;
    let d = Arc::new(BridgeDriver::new());
    let others = vec![net_info(
        "lxdbr1",
        &[("ipv4.address", "10.88.0.1/24")],
        &w.dir.path,
    )];
    let check = |name: &str, c: ConfigMap, others: Vec<NetworkInfo>, want: &[&str]| -> Result<()> {
        let e = prepare(&w.rt, &d, name, c, others).expect_err("must be refused");
        ensure!(matches!(e, lxd_core::Error::Invalid(_)), "not a 400: {e:?}");
        let msg = e.to_string();
        for w in want {
            ensure!(msg.contains(w), "{msg:?} does not mention {w:?}");
        }
        Ok(())
    };
    check(
        "lxdbr2",
        cfg(&[("ipv4.address", "10.88.0.50/25")]),
        others.clone(),
        &["10.88.0.0/25", "lxdbr1"],
    )?;
    check(
        "abcdefghijklmnop",
        ConfigMap::new(),
        vec![],
        &["abcdefghijklmnop", "15"],
    )?;
    check("bad/name", ConfigMap::new(), vec![], &["bad/name"])?;
    check(
        "fanbr0123456",
        cfg(&[
            ("bridge.mode", "fan"),
            ("fan.underlay_subnet", "10.1.0.0/16"),
        ]),
        vec![],
        &["fanbr0123456", "11"],
    )?;
    check(
        "lxdbr3",
        cfg(&[("ipv4.nonsense", "1")]),
        vec![],
        &["ipv4.nonsense", "unknown"],
    )?;
    check(
        "lxdbr3",
        cfg(&[("ipv4.address", "10.1.2.300/24")]),
        vec![],
        &["ipv4.address", "10.1.2.300/24"],
    )?;
    check(
        "lxdbr3",
        cfg(&[("ipv6.address", "fd42::/64")]),
        vec![],
        &["ipv6.address"],
    )?;
    check(
        "lxdbr3",
        cfg(&[("bridge.driver", "openvswitch")]),
        vec![],
        &["openvswitch"],
    )?;
    check(
        "lxdbr3",
        cfg(&[("ipv4.address", "203.0.113.9/24")]),
        vec![],
        &["up0"],
    )?;
    check(
        "lxdbr3",
        cfg(&[
            ("ipv4.address", "10.9.0.1/24"),
            ("ipv4.dhcp.ranges", "10.9.1.2-10.9.1.9"),
        ]),
        vec![],
        &["ipv4.dhcp.ranges"],
    )?;

    // Create refuses an interface that exists and leaves it alone.
    w.host
        .exec("ip link add lxdbusy type veth peer name lxdbusyp")?;
    let net = net_info(
        "lxdbusy",
        &[("ipv4.address", "10.89.0.1/24"), ("ipv6.address", "none")],
        &w.dir.path,
    );
    let e = {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.create(&n).await })
    }
    .unwrap_err();
    ensure!(e.to_string().contains("lxdbusy"), "{e}");
    ensure!(
        w.host.has_link("lxdbusy")?,
        "the existing interface was removed"
    );
    ensure!(!w.host.exec("nft list tables")?.contains("lxdrs_lxdbusy"));

    // A failure half-way (dnsmasq cannot start: its raw configuration is broken) is rolled back.
    let broken = net_info(
        "lxdbrk0",
        &[
            ("ipv4.address", "10.89.1.1/24"),
            ("ipv4.nat", "true"),
            ("ipv6.address", "none"),
            ("raw.dnsmasq", "no-such-option=1"),
        ],
        &w.dir.path,
    );
    let e = {
        let (d, n) = (d.clone(), broken.clone());
        w.rt.run(move || async move { d.create(&n).await })
    }
    .unwrap_err();
    ensure!(
        e.to_string().contains("dnsmasq") && e.to_string().contains("lxdbrk0"),
        "{e}"
    );
    assert_nothing_left(&w.host, "lxdbrk0", &w.dir.path)?;
    Ok(())
}

#[test]
fn start_after_a_daemon_restart_replaces_the_stale_dnsmasq() -> Result<()> {
    let w = world("rst")?;
    let net = net_info(
        "lxdr0",
        &[
            ("ipv4.address", "10.77.90.1/24"),
            ("ipv6.address", "none"),
            ("raw.dnsmasq", "no-resolv"),
        ],
        &w.dir.path,
    );
    std::fs::create_dir_all(&net.state_dir)?;
    // A dnsmasq of this network left by a daemon that died (daemonized, nobody's child).
    let pid_file = net.state_dir.join("dnsmasq.pid");
    w.host.exec(&format!(
        "dnsmasq --interface=lxdr0 --pid-file={} --bind-dynamic --port=0 --conf-file=/dev/null",
        pid_file.display()
    ))?;
    ensure!(wait_for(Duration::from_secs(5), || pid_file.exists()));
    let stale: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    ensure!(alive(stale));

    // The new daemon's driver starts the recorded network.
    let d = Arc::new(BridgeDriver::new());
    let start = |d: &Arc<BridgeDriver>| {
        let (d, n) = (d.clone(), net.clone());
        w.rt.run(move || async move { d.start(&n).await })
    };
    start(&d)?;
    ensure!(
        wait_for(Duration::from_secs(3), || !alive(stale)),
        "stale dnsmasq {stale} still runs"
    );
    let pid = {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_pid("lxdr0").await })
    }
    .context("a new dnsmasq runs")?;
    ensure!(pid != stale && alive(pid));
    let user = sh(&format!("ps -o user= -p {pid}"))?;
    ensure!(
        user.trim() == "nobody",
        "dnsmasq runs as {user:?}, not nobody"
    );

    // Starting again changes nothing.
    start(&d)?;
    let again = {
        let d = d.clone();
        w.rt.run(move || async move { d.dnsmasq_pid("lxdr0").await })
    };
    ensure!(
        again == Some(pid),
        "start is not idempotent: {again:?} vs {pid}"
    );
    let addrs = w.host.exec("ip -4 -o addr show dev lxdr0")?;
    ensure!(
        addrs.lines().count() == 1 && addrs.contains("10.77.90.1/24"),
        "{addrs}"
    );
    stop(&w.rt, &d, &net)?;
    assert_nothing_left(&w.host, "lxdr0", &w.dir.path)?;
    Ok(())
}
