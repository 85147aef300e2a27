//! Nics for real, inside network namespaces the tests create: macvlan, physical (in and back,
//! also after the instance's namespace died), vlan parents, bandwidth limits, and the host
//! interface list.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::*;
use lxd_core::network::{NetworkDriver, NicAttachment, NicDevice};
use lxd_core::store::ConfigMap;
use lxd_net::BridgeDriver;

fn cfg(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn nic(dev: &str, pairs: &[(&str, &str)], hwaddr: &str) -> NicDevice {
    let mut config = cfg(&[("type", "nic")]);
    config.extend(cfg(pairs));
    NicDevice {
        name: dev.into(),
        config,
        bridge: None,
        hwaddr: hwaddr.into(),
    }
}

fn attach(rt: &NsRuntime, inst: &str, n: &NicDevice, pid: i32) -> lxd_core::Result<NicAttachment> {
    let (inst, n) = (inst.to_string(), n.clone());
    rt.run(move || async move { lxd_net::nic_driver().attach(&inst, &n, pid).await })
}

fn detach(
    rt: &NsRuntime,
    inst: &str,
    n: &NicDevice,
    att: &NicAttachment,
    pid: Option<i32>,
) -> lxd_core::Result<()> {
    let (inst, n, att) = (inst.to_string(), n.clone(), att.clone());
    rt.run(move || async move { lxd_net::nic_driver().detach(&inst, &n, &att, pid).await })
}

/// Whether this kernel can make a device of `kind` (tried in a scratch namespace).
fn kernel_supports(kind: &str, args: &str) -> Result<bool> {
    let ns = Netns::new("probe")?;
    Ok(ns
        .try_exec(&format!(
            "ip link add probe0 type veth peer name probe1 && ip link add {args} type {kind}"
        ))
        .0)
}

#[test]
fn macvlan_nics_on_one_parent_talk_to_each_other() -> Result<()> {
    let dir = TestDir::new("mv")?;
    let host = Netns::new("mvh")?;
    host.exec(
        "ip link add mvp0 type veth peer name mvp1\nip link set mvp0 up\nip link set mvp1 up",
    )?;
    let rt = NsRuntime::new(&host)?;
    let c1 = Container::new("m1", &dir)?;
    let c2 = Container::new("m2", &dir)?;
    let n1 = nic(
        "eth0",
        &[("nictype", "macvlan"), ("parent", "mvp0"), ("mtu", "1400")],
        "00:16:3e:ee:00:01",
    );
    let n2 = nic(
        "eth0",
        &[("nictype", "macvlan"), ("parent", "mvp0")],
        "00:16:3e:ee:00:02",
    );
    let t = Instant::now();
    let a1 = attach(&rt, "m1", &n1, c1.pid())?;
    eprintln!("timings: macvlan attach {:?}", t.elapsed());
    let a2 = attach(&rt, "m2", &n2, c2.pid())?;
    ensure!(a1.volatile.get("last_state.created").map(String::as_str) == Some("false"));
    let l1 = c1.exec("ip -d -o link show dev eth0")?;
    ensure!(
        l1.contains("macvlan mode bridge")
            && l1.contains("00:16:3e:ee:00:01")
            && l1.contains("mtu 1400"),
        "{l1}"
    );
    ensure!(l1.contains("state UP") || l1.contains(",UP"), "{l1}");
    ensure!(
        !host.links()?.iter().any(|l| l == "eth0"),
        "nothing named eth0 on the host side"
    );
    c1.exec("ip addr add 192.0.2.11/24 dev eth0")?;
    c2.exec("ip addr add 192.0.2.12/24 dev eth0")?;
    ensure!(c1.ping("192.0.2.12"), "macvlan m1 cannot reach m2");
    ensure!(c2.ping("192.0.2.11"), "macvlan m2 cannot reach m1");
    detach(&rt, "m1", &n1, &a1, Some(c1.pid()))?;
    detach(&rt, "m2", &n2, &a2, Some(c2.pid()))?;
    ensure!(
        !c1.ns.has_link("eth0")? && !c2.ns.has_link("eth0")?,
        "macvlans left"
    );
    ensure!(host.has_link("mvp0")?, "the parent must stay");

    // A name taken inside the instance is refused clearly and nothing is left.
    c1.exec("ip link add eth0 type veth peer name eth0p")?;
    let e = attach(&rt, "m1", &n1, c1.pid()).unwrap_err();
    ensure!(
        e.to_string().contains("eth0") && e.to_string().contains("m1"),
        "{e}"
    );
    Ok(())
}

#[test]
fn physical_nic_moves_in_and_back_even_after_the_namespace_died() -> Result<()> {
    let dir = TestDir::new("phys")?;
    let host = Netns::new("physh")?;
    host.exec("ip link add phys0 type veth peer name phys0p\nip link set phys0 address 02:00:00:00:aa:01 mtu 1400\nip link set phys0p up")?;
    let rt = NsRuntime::new(&host)?;
    let c = Container::new("p1", &dir)?;
    let n = nic(
        "eth1",
        &[
            ("nictype", "physical"),
            ("parent", "phys0"),
            ("mtu", "1300"),
            ("hwaddr", "00:16:3e:ff:00:01"),
        ],
        "",
    );

    // In and back from the running instance.
    let att = attach(&rt, "p1", &n, c.pid())?;
    ensure!(att.host_name.as_deref() == Some("phys0"));
    ensure!(
        att.volatile.get("last_state.hwaddr").map(String::as_str) == Some("02:00:00:00:aa:01"),
        "{att:?}"
    );
    ensure!(
        att.volatile.get("last_state.mtu").map(String::as_str) == Some("1400"),
        "{att:?}"
    );
    ensure!(!host.has_link("phys0")?, "phys0 still on the host");
    let inside = c.exec("ip -o link show dev eth1")?;
    ensure!(
        inside.contains("00:16:3e:ff:00:01") && inside.contains("mtu 1300"),
        "{inside}"
    );
    detach(&rt, "p1", &n, &att, Some(c.pid()))?;
    ensure!(!c.ns.has_link("eth1")?, "eth1 left in the instance");
    let back = host.exec("ip -o link show dev phys0")?;
    ensure!(
        back.contains("02:00:00:00:aa:01") && back.contains("mtu 1400"),
        "not restored: {back}"
    );

    // In again; then the instance's namespace goes away. The kernel hands physical devices
    // back to the initial namespace under their in-instance name, or devN when that is taken
    // (veth test devices are destroyed instead, so the test does what the kernel would do,
    // into the test's host namespace).
    let att = attach(&rt, "p1", &n, c.pid())?;
    host.exec("ip link add eth1 type veth peer name eth1p")?; // make the kernel pick devN
    c.exec(&format!(
        "ip link set eth1 down\nip link set eth1 netns {} name dev42",
        host.name
    ))?;
    ensure!(host.has_link("dev42")?);
    detach(&rt, "p1", &n, &att, None)?;
    ensure!(!host.has_link("dev42")?, "dev42 not renamed back");
    let back = host.exec("ip -o link show dev phys0")?;
    ensure!(
        back.contains("02:00:00:00:aa:01") && back.contains("mtu 1400"),
        "not restored: {back}"
    );

    // A missing parent is refused with its name.
    let missing = nic(
        "eth2",
        &[("nictype", "physical"), ("parent", "nosuch0")],
        "",
    );
    let e = attach(&rt, "p1", &missing, c.pid()).unwrap_err();
    ensure!(e.to_string().contains("nosuch0"), "{e}");
    Ok(())
}

#[test]
fn vlan_parent_is_created_shared_and_removed() -> Result<()> {
    let dir = TestDir::new("vlan")?;
    let host = Netns::new("vlanh")?;
    host.exec("ip link add vp0 type veth peer name vp1\nip link set vp0 up\nip link set vp1 up")?;
    let rt = NsRuntime::new(&host)?;
    let c1 = Container::new("v1", &dir)?;
    let c2 = Container::new("v2", &dir)?;
    let n = nic(
        "eth0",
        &[("nictype", "macvlan"), ("parent", "vp0"), ("vlan", "10")],
        "00:16:3e:ab:00:01",
    );
    let n2 = nic(
        "eth0",
        &[("nictype", "macvlan"), ("parent", "vp0"), ("vlan", "10")],
        "00:16:3e:ab:00:02",
    );
    if !kernel_supports("vlan", "link probe0 name probe0.5 id 5")? {
        // This kernel has no 802.1Q: the nic is refused with that reason, nothing is left.
        let e = attach(&rt, "v1", &n, c1.pid()).unwrap_err();
        let msg = e.to_string();
        ensure!(
            msg.contains("802.1Q") && msg.contains("vlan 10 on vp0"),
            "{msg}"
        );
        ensure!(
            !host.has_link("vp0.10")? && !c1.ns.has_link("eth0")?,
            "leftovers"
        );
        eprintln!("vlan: the running kernel lacks CONFIG_VLAN_8021Q; checked the refusal only");
        return Ok(());
    }
    let a1 = attach(&rt, "v1", &n, c1.pid())?;
    ensure!(a1.volatile.get("last_state.created").map(String::as_str) == Some("true"));
    let a2 = attach(&rt, "v2", &n2, c2.pid())?;
    ensure!(a2.volatile.get("last_state.created").map(String::as_str) == Some("false"));
    let vl = host.exec("ip -d -o link show dev vp0.10")?;
    ensure!(vl.contains("vlan protocol 802.1Q id 10"), "{vl}");
    c1.exec("ip addr add 192.0.2.21/24 dev eth0")?;
    c2.exec("ip addr add 192.0.2.22/24 dev eth0")?;
    ensure!(c1.ping("192.0.2.22"));
    detach(&rt, "v1", &n, &a1, Some(c1.pid()))?;
    ensure!(host.has_link("vp0.10")?, "still used by v2");
    detach(&rt, "v2", &n2, &a2, Some(c2.pid()))?;
    ensure!(!host.has_link("vp0.10")?, "vp0.10 left after its last user");
    Ok(())
}

#[test]
fn bridged_nic_limits_are_applied_and_removed() -> Result<()> {
    let dir = TestDir::new("lim")?;
    let host = Netns::new("limh")?;
    let rt = NsRuntime::new(&host)?;
    let d = Arc::new(BridgeDriver::new());
    let net = net_info(
        "lxdl0",
        &[
            ("ipv4.address", "10.77.80.1/24"),
            ("ipv6.address", "none"),
            ("raw.dnsmasq", "no-resolv"),
        ],
        &dir.path,
    );
    {
        let (d, n) = (d.clone(), net.clone());
        rt.run(move || async move { d.create(&n).await })?;
    }
    let c = Container::new("l1", &dir)?;
    let mut n = nic(
        "eth0",
        &[
            ("network", "lxdl0"),
            ("limits.ingress", "10Mbit"),
            ("limits.egress", "20Mbit"),
            ("host_name", "vethlim0"),
        ],
        "00:16:3e:ac:00:01",
    );
    n.bridge = Some("lxdl0".into());
    let att = attach(&rt, "l1", &n, c.pid())?;
    ensure!(att.host_name.as_deref() == Some("vethlim0"));
    let q = host.exec("tc qdisc show dev vethlim0")?;
    ensure!(q.contains("qdisc htb 1: root"), "{q}");
    let cl = host.exec("tc class show dev vethlim0")?;
    ensure!(cl.contains("rate 10Mbit"), "{cl}");
    let ifb = lxd_net::tc::ifb_name("vethlim0");
    let f = host.exec("tc filter show dev vethlim0 ingress")?;
    ensure!(
        f.contains(&format!("Egress Redirect to device {ifb}")),
        "{f}"
    );
    let cl = host.exec(&format!("tc class show dev {ifb}"))?;
    ensure!(cl.contains("rate 20Mbit"), "{cl}");

    // The limits work. To the instance (htb at 10 Mbit/s): 1.5 MB take more than a second.
    c.exec("ip addr add 10.77.80.50/24 dev eth0")?;
    let listener =
        c.ns.spawn(&["sh", "-c", "sleep 30 | busybox nc -l -p 9000 > /dev/null"])?;
    std::thread::sleep(Duration::from_millis(300));
    let secs = rt.run(|| async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let t = Instant::now();
        let mut s = tokio::net::TcpStream::connect("10.77.80.50:9000").await?;
        s.write_all(&vec![0u8; 1_500_000]).await?;
        s.shutdown().await?;
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf).await; // returns when the receiver has read everything
        anyhow::Ok(t.elapsed().as_secs_f64())
    })?;
    drop(listener);
    eprintln!("1.5 MB to the instance at limits.ingress=10Mbit: {secs:.2}s");
    ensure!(
        secs > 0.9,
        "1.5 MB took only {secs:.2}s: limits.ingress is not enforced"
    );

    // From the instance (shaped on the ifb at 20 Mbit/s): 4 MB take more than a second.
    let sender = c.ns.spawn(&[
        "sh",
        "-c",
        "sleep 0.3; head -c 4000000 /dev/zero | busybox nc 10.77.80.1 9001",
    ])?;
    let secs = rt.run(|| async {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("10.77.80.1:9001").await?;
        let (mut s, _) = tokio::time::timeout(Duration::from_secs(10), l.accept()).await??;
        let mut buf = vec![0u8; 65536];
        let mut total = 0usize;
        let t = Instant::now();
        loop {
            let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await??;
            if n == 0 {
                break;
            }
            total += n;
        }
        anyhow::ensure!(total == 4_000_000, "received {total} bytes");
        anyhow::Ok(t.elapsed().as_secs_f64())
    })?;
    drop(sender);
    eprintln!("4 MB from the instance at limits.egress=20Mbit: {secs:.2}s");
    ensure!(
        secs > 1.0,
        "4 MB took only {secs:.2}s: limits.egress is not enforced"
    );

    detach(&rt, "l1", &n, &att, Some(c.pid()))?;
    detach(&rt, "l1", &n, &att, Some(c.pid()))?;
    ensure!(!host.has_link("vethlim0")?);
    ensure!(!host.has_link(&ifb)?, "ifb {ifb} left");
    {
        let (d, n) = (d.clone(), net.clone());
        rt.run(move || async move { d.stop(&n).await })?;
    }
    Ok(())
}

#[test]
fn host_interfaces_and_their_state() -> Result<()> {
    let host = Netns::new("ifs")?;
    host.exec("ip link add br9 type bridge\nip link add ve0 type veth peer name ve1\nip addr add 192.0.2.1/24 dev ve0\nip link set ve0 up")?;
    let rt = NsRuntime::new(&host)?;
    let list = rt.run(|| async { lxd_net::nic_driver().host_interfaces().await })?;
    let kind = |n: &str| list.iter().find(|i| i.name == n).map(|i| i.kind.clone());
    ensure!(kind("lo").as_deref() == Some("loopback"), "{list:?}");
    ensure!(kind("br9").as_deref() == Some("bridge"), "{list:?}");
    ensure!(kind("ve0").as_deref() == Some("unknown"), "{list:?}");
    let st = rt.run(|| async { lxd_net::nic_driver().interface_state("ve0").await })?;
    ensure!(st.state == "up" && st.kind == "broadcast", "{st:?}");
    ensure!(
        st.addresses
            .iter()
            .any(|a| a.address == "192.0.2.1" && a.netmask == "24"),
        "{st:?}"
    );
    let lo = rt.run(|| async { lxd_net::nic_driver().interface_state("lo").await })?;
    ensure!(lo.kind == "loopback" && lo.mtu == 65536, "{lo:?}");
    let e = rt
        .run(|| async { lxd_net::nic_driver().interface_state("nosuch9").await })
        .unwrap_err();
    ensure!(e.to_string().contains("nosuch9"), "{e}");
    Ok(())
}
