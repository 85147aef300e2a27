//! Networking driven by the real `lxc` client, every host a network namespace of the test:
//! a managed bridge with DHCP, DNS and NAT to an "outside" namespace, static leases, nic
//! hot-plug, macvlan, a container routing another container's traffic, the fan overlay
//! across three hosts, `lxd init --auto`'s bridge, bad input, and cleanup that leaves nothing.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::check;
use crate::fixture::{sh, Daemon, NetNs, Out};
use crate::TestResult;

/// A veth pair between two namespaces with an address on each end, up.
fn link(a: &NetNs, a_if: &str, a_addr: &str, b: &NetNs, b_if: &str, b_addr: &str) {
    let out = sh(&format!(
        "ip link add {a_if} netns {an} type veth peer name {b_if} netns {bn} && \
         ip -n {an} link set {a_if} up && ip -n {bn} link set {b_if} up && \
         {aa} {ba}",
        an = a.name,
        bn = b.name,
        aa = if a_addr.is_empty() {
            String::new()
        } else {
            format!("ip -n {} addr add {a_addr} dev {a_if} &&", a.name)
        },
        ba = if b_addr.is_empty() {
            "true".to_string()
        } else {
            format!("ip -n {} addr add {b_addr} dev {b_if}", b.name)
        },
    ));
    assert_eq!(out.code, 0, "veth {a_if}/{b_if}: {out:?}");
}

/// A TCP server in a namespace that reports the address of the first client.
fn probe(ns: &NetNs, ip: &str) -> (u16, JoinHandle<Option<String>>) {
    let (tx, rx) = mpsc::channel();
    let ip = ip.to_string();
    let h = ns.run(move || {
        let l = TcpListener::bind(format!("{ip}:0")).expect("bind probe");
        tx.send(l.local_addr().unwrap().port()).unwrap();
        l.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((_, peer)) = l.accept() {
                return Some(match peer {
                    SocketAddr::V4(a) => a.ip().to_string(),
                    SocketAddr::V6(a) => a.ip().to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    });
    (rx.recv().expect("probe port"), h)
}

/// The first IPv4 address `lxc list` shows for an instance, waiting up to 30 s for one.
fn wait_ipv4(d: &Daemon, name: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = d.ok(&["list", name, "-c", "4", "-f", "csv"]);
        if let Some(ip) = out.split_whitespace().next().filter(|s| s.contains('.')) {
            return Ok(ip.to_string());
        }
        if Instant::now() > deadline {
            let log = d.lxc(&["exec", name, "--", "ip", "addr"]);
            return Err(format!("{name} got no IPv4 address: {out:?}\n{log:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn exec(d: &Daemon, name: &str, script: &str) -> Out {
    d.lxc(&["exec", name, "--", "sh", "-c", script])
}

/// What a namespace has that a network could leave behind.
fn footprint(ns: &NetNs) -> (String, String, String, Vec<String>) {
    let links = ns.sh("ip -o link show | cut -d: -f2 | sort").stdout;
    let tables = ns.sh("nft list tables 2>/dev/null | sort").stdout;
    let sysctls = ns
        .sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null")
        .stdout;
    let procs = ns
        .sh("ip netns identify $$ >/dev/null; for p in $(ip netns pids $(ip netns identify $$)); do cat /proc/$p/comm; done")
        .stdout
        .lines()
        .filter(|c| *c == "dnsmasq")
        .map(str::to_string)
        .collect();
    (links, tables, sysctls, procs)
}

pub fn bridge_dhcp_dns_nat_static_lease_and_cleanup() -> TestResult {
    let d = Daemon::start("net");
    let host = &d.netns;
    let outside = NetNs::new("out");
    link(
        host,
        "uplink",
        "192.0.2.1/24",
        &outside,
        "wan",
        "192.0.2.2/24",
    );
    // The host's way out is the "outside" namespace, as a real host's default route.
    let out = host.sh("ip route add default via 192.0.2.2");
    check!(out.code == 0, "{out:?}");
    let before = footprint(host);

    d.ok(&[
        "network",
        "create",
        "tnet",
        "ipv4.address=10.201.1.1/24",
        "ipv4.nat=true",
        "ipv6.address=none",
    ]);
    let list = d.ok(&["network", "list", "-f", "csv"]);
    check!(list.contains("tnet,bridge,YES"), "{list}");
    check!(
        host.sh("ip -o addr show tnet")
            .stdout
            .contains("10.201.1.1/24"),
        "the bridge has its address"
    );
    d.ok(&["launch", "busybox", "c1", "-n", "tnet"]);
    d.ok(&["launch", "busybox", "c2", "-n", "tnet"]);
    let ip1 = wait_ipv4(&d, "c1")?;
    let ip2 = wait_ipv4(&d, "c2")?;
    check!(ip1.starts_with("10.201.1.") && ip1 != ip2, "{ip1} {ip2}");
    let cfg = d.ok(&["config", "show", "c1"]);
    check!(
        cfg.contains("volatile.eth0.hwaddr: 00:16:3e:") && cfg.contains("volatile.eth0.host_name"),
        "{cfg}"
    );

    // The gateway answers; the other container resolves by name through the bridge's DNS.
    let out = exec(&d, "c1", "ping -c1 -W2 10.201.1.1");
    check!(out.code == 0, "ping the gateway: {out:?}");
    let out = exec(&d, "c1", "nslookup c2.lxd");
    check!(
        out.code == 0 && out.stdout.contains(&ip2),
        "DNS c2.lxd: {out:?}"
    );
    let out = exec(&d, "c1", &format!("ping -c1 -W2 {ip2}"));
    check!(out.code == 0, "container to container: {out:?}");

    // Outside, through NAT: the server sees the host's address.
    let (port, server) = probe(&outside, "192.0.2.2");
    let out = exec(&d, "c1", &format!("echo hi | nc -w 2 192.0.2.2 {port}"));
    let peer = server.join().unwrap();
    check!(
        peer.as_deref() == Some("192.0.2.1"),
        "NAT: server saw {peer:?} ({out:?})"
    );

    // A static address is honoured.
    d.ok(&["init", "busybox", "c3", "-n", "tnet"]);
    d.ok(&[
        "config",
        "device",
        "set",
        "c3",
        "eth0",
        "ipv4.address",
        "10.201.1.77",
    ]);
    d.ok(&[
        "config",
        "device",
        "set",
        "c3",
        "eth0",
        "limits.ingress=10Mbit",
        "limits.egress=20Mbit",
    ]);
    d.ok(&["start", "c3"]);
    let ip3 = wait_ipv4(&d, "c3")?;
    check!(ip3 == "10.201.1.77", "static lease: got {ip3}");
    // The nic's limits are traffic control on its host side.
    let veth = d.ok(&["config", "get", "c3", "volatile.eth0.host_name"]);
    let tc = host.sh(&format!("tc qdisc show dev {}", veth.trim()));
    check!(tc.stdout.contains("htb"), "limits on {veth}: {tc:?}");
    let leases = d.ok(&["network", "list-leases", "tnet", "-f", "csv"]);
    check!(
        leases.contains("tnet.gw,,10.201.1.1,GATEWAY")
            && leases.contains(",10.201.1.77,STATIC")
            && leases.contains("c1,"),
        "{leases}"
    );

    // Hot-plug and unplug a second nic into a running container.
    d.ok(&[
        "config",
        "device",
        "add",
        "c1",
        "eth1",
        "nic",
        "network=tnet",
    ]);
    let mac = d.ok(&["config", "get", "c1", "volatile.eth1.hwaddr"]);
    let out = exec(&d, "c1", "cat /sys/class/net/eth1/address");
    check!(
        out.stdout.trim() == mac.trim(),
        "hot-plugged eth1: {out:?} vs {mac}"
    );
    d.ok(&["config", "device", "remove", "c1", "eth1"]);
    let out = exec(&d, "c1", "test -e /sys/class/net/eth1");
    check!(out.code != 0, "eth1 is gone after unplug");

    let show = d.ok(&["network", "show", "tnet"]);
    check!(
        show.contains("managed: true")
            && show.contains("status: Created")
            && show.contains("/1.0/instances/c1"),
        "{show}"
    );
    let info = d.ok(&["network", "info", "tnet"]);
    check!(info.contains("10.201.1.1/24"), "{info}");
    let state = d.ok(&["query", "/1.0/instances/c1/state"]);
    check!(
        state.contains("\"host_name\": \"veth") || state.contains("\"host_name\":"),
        "{state}"
    );

    // Deleting in use is refused; once unused, nothing is left.
    let out = d.lxc(&["network", "delete", "tnet"]);
    check!(
        out.code != 0 && out.stderr.contains("currently in use"),
        "{out:?}"
    );
    for c in ["c1", "c2", "c3"] {
        d.ok(&["delete", "-f", c]);
    }
    d.ok(&["network", "delete", "tnet"]);
    let after = footprint(host);
    check!(
        after == before,
        "left behind:\nbefore {before:?}\nafter  {after:?}"
    );
    check!(
        !d.dir.join("networks/tnet").exists(),
        "the network's files are gone"
    );
    Ok(())
}

pub fn macvlan_and_container_as_router() -> TestResult {
    let d = Daemon::start("route");
    let host = &d.netns;
    let lan = NetNs::new("lan");
    link(host, "mvp", "", &lan, "lanif", "198.51.100.1/24");

    // macvlan on a host interface, hot-plugged.
    d.ok(&["launch", "busybox", "m1"]);
    d.ok(&[
        "config",
        "device",
        "add",
        "m1",
        "eth0",
        "nic",
        "nictype=macvlan",
        "parent=mvp",
    ]);
    let out = exec(
        &d,
        "m1",
        "ip addr add 198.51.100.10/24 dev eth0 && ip link set eth0 up && ping -c1 -W2 198.51.100.1",
    );
    check!(out.code == 0, "macvlan: {out:?}");

    // A host interface moved in as a physical nic, and back out when the instance stops.
    let out = host.sh(
        "ip link add phy0 type veth peer name phy0p && ip link set phy0 address 00:16:3e:77:00:01",
    );
    check!(out.code == 0, "{out:?}");
    d.ok(&[
        "config",
        "device",
        "add",
        "m1",
        "eth1",
        "nic",
        "nictype=physical",
        "parent=phy0",
    ]);
    let out = exec(&d, "m1", "cat /sys/class/net/eth1/address");
    check!(
        out.stdout.trim() == "00:16:3e:77:00:01",
        "physical nic inside: {out:?}"
    );
    check!(host.sh("ip link show phy0").code != 0, "phy0 left the host");
    d.ok(&["stop", "-f", "m1"]);
    let out = host.sh("ip -o link show phy0");
    check!(
        out.code == 0 && out.stdout.contains("00:16:3e:77:00:01"),
        "phy0 is back on the host after the stop: {out:?}"
    );

    // Two bridges: tnet with NAT, tint without DHCP; r1 routes c5 from tint to tnet.
    d.ok(&[
        "network",
        "create",
        "tnet",
        "ipv4.address=10.201.1.1/24",
        "ipv4.nat=true",
        "ipv6.address=none",
    ]);
    d.ok(&[
        "network",
        "create",
        "tint",
        "ipv4.address=10.202.1.1/24",
        "ipv4.nat=false",
        "ipv4.dhcp=false",
        "ipv6.address=none",
    ]);
    d.ok(&[
        "init",
        "busybox",
        "r1",
        "-n",
        "tnet",
        "-c",
        "security.privileged=true",
    ]);
    d.ok(&[
        "config",
        "device",
        "add",
        "r1",
        "eth1",
        "nic",
        "network=tint",
    ]);
    d.ok(&["start", "r1"]);
    let r1_ip = wait_ipv4(&d, "r1")?;
    // The host's nft, with its libraries, pushed into the router.
    let libs = sh("ldd /usr/sbin/nft | grep -o '/[^ ]*'").stdout;
    for f in libs.lines().chain(std::iter::once("/usr/sbin/nft")) {
        let real = std::fs::canonicalize(f).map_err(|e| format!("{f}: {e}"))?;
        d.ok(&[
            "file",
            "push",
            "-p",
            real.to_str().unwrap(),
            &format!("r1{f}"),
        ]);
    }
    let out = exec(
        &d,
        "r1",
        "chmod +x /usr/sbin/nft && ip addr add 10.202.1.10/24 dev eth1 && ip link set eth1 up && \
         echo 1 > /proc/sys/net/ipv4/ip_forward && \
         nft add table ip nat && \
         nft 'add chain ip nat post { type nat hook postrouting priority 100 ; }' && \
         nft add rule ip nat post oifname eth0 masquerade",
    );
    check!(out.code == 0, "router setup: {out:?}");
    d.ok(&["launch", "busybox", "c5", "-n", "tint"]);
    let out = exec(
        &d,
        "c5",
        "killall udhcpc; ip addr add 10.202.1.20/24 dev eth0 && ip link set eth0 up && \
         ip route add default via 10.202.1.10",
    );
    check!(out.code == 0, "c5 setup: {out:?}");
    let (port, server) = probe(host, "10.201.1.1");
    let out = exec(&d, "c5", &format!("echo hi | nc -w 2 10.201.1.1 {port}"));
    let peer = server.join().unwrap();
    check!(
        peer.as_deref() == Some(r1_ip.as_str()),
        "the router masqueraded c5: server saw {peer:?}, router is {r1_ip} ({out:?})"
    );
    for c in ["m1", "r1", "c5"] {
        d.ok(&["delete", "-f", c]);
    }
    d.ok(&["network", "delete", "tnet"]);
    d.ok(&["network", "delete", "tint"]);
    check!(
        host.sh("ip link show mvp").code == 0,
        "the macvlan parent is left alone"
    );
    Ok(())
}

pub fn fan_overlay_across_three_hosts() -> TestResult {
    let underlay = NetNs::new("ul");
    let out = underlay.sh("ip link add ulbr type bridge && ip link set ulbr up");
    check!(out.code == 0, "{out:?}");
    let mut daemons = Vec::new();
    for i in 1..=3 {
        let ns = NetNs::new(&format!("h{i}"));
        link(
            &ns,
            "ul0",
            &format!("10.99.{i}.10/16"),
            &underlay,
            &format!("ulh{i}"),
            "",
        );
        let out = underlay.sh(&format!("ip link set ulh{i} master ulbr"));
        check!(out.code == 0, "{out:?}");
        let d = Daemon::start_in(&format!("fan{i}"), ns);
        d.ok(&[
            "network",
            "create",
            "fan0",
            "bridge.mode=fan",
            "fan.underlay_subnet=10.99.0.0/16",
            "fan.peers=10.99.1.10,10.99.2.10,10.99.3.10",
        ]);
        let addr = d.netns.sh("ip -o -4 addr show fan0").stdout;
        check!(
            addr.contains(&format!("240.{i}.10.1/")),
            "host {i}'s fan address: {addr}"
        );
        d.ok(&["launch", "busybox", &format!("f{i}"), "-n", "fan0"]);
        daemons.push(d);
    }
    let mut ips = Vec::new();
    for (i, d) in daemons.iter().enumerate() {
        let ip = wait_ipv4(d, &format!("f{}", i + 1))?;
        check!(
            ip.starts_with(&format!("240.{}.10.", i + 1)),
            "f{}: {ip}",
            i + 1
        );
        ips.push(ip);
    }
    // Capture vxlan on the underlay while f1 pings f2 and f3.
    let capture = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &underlay.name,
            "timeout",
            "15",
            "tcpdump",
            "-l",
            "-n",
            "-c",
            "4",
            "-i",
            "ulbr",
            "udp",
            "port",
            "8472",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(500));
    for ip in &ips[1..] {
        let out = exec(&daemons[0], "f1", &format!("ping -c2 -W2 {ip}"));
        check!(out.code == 0, "f1 to {ip} over the fan: {out:?}");
    }
    let out = exec(&daemons[2], "f3", &format!("ping -c1 -W2 {}", ips[1]));
    check!(out.code == 0, "f3 to f2: {out:?}");
    let captured: Out = capture
        .wait_with_output()
        .map_err(|e| e.to_string())?
        .into();
    check!(
        captured.stdout.contains("VXLAN") || captured.stdout.contains(".8472"),
        "no vxlan traffic on the underlay: {captured:?}"
    );
    for (i, d) in daemons.iter().enumerate() {
        d.ok(&["delete", "-f", &format!("f{}", i + 1)]);
        d.ok(&["network", "delete", "fan0"]);
        let links = d.netns.sh("ip -o link show").stdout;
        check!(
            !links.contains("fan0"),
            "host {} keeps fan interfaces: {links}",
            i + 1
        );
    }
    Ok(())
}

pub fn bad_input_is_refused() -> TestResult {
    let d = Daemon::start("netbad");
    d.ok(&[
        "network",
        "create",
        "good0",
        "ipv4.address=10.203.1.1/24",
        "ipv6.address=none",
    ]);
    let before = d.ok(&["network", "list", "-f", "csv"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "network",
                "create",
                "over0",
                "ipv4.address=10.203.1.1/24",
                "ipv6.address=none",
            ],
            "overlap",
        ),
        (
            &[
                "network",
                "create",
                "over1",
                "ipv4.address=10.203.1.129/25",
                "ipv6.address=none",
            ],
            "overlap",
        ),
        (&["network", "create", "abcdefghijklmnop"], "too long"),
        (
            &[
                "network",
                "create",
                "fanfanfan123",
                "bridge.mode=fan",
                "fan.underlay_subnet=10.98.0.0/16",
            ],
            "11 characters",
        ),
        (&["network", "create", "x1", "foo=bar"], "foo"),
        (
            &["network", "create", "x2", "ipv4.address=300.1.1.1/24"],
            "ipv4.address",
        ),
        (&["network", "create", "good0"], "already exists"),
        (&["network", "create", "lo"], "already exists"),
        (&["network", "create", "x3", "--type", "hub"], "hub"),
    ];
    for (args, want) in cases {
        let out = d.lxc(args);
        check!(
            out.code != 0 && out.stderr.to_lowercase().contains(&want.to_lowercase()),
            "lxc {args:?} should fail with {want:?}: {out:?}"
        );
    }
    check!(
        d.ok(&["network", "list", "-f", "csv"]) == before,
        "a refused create left something"
    );
    let links = d.netns.sh("ip -o link show").stdout;
    check!(
        !["over0", "over1", "x1", "x2", "x3"]
            .iter()
            .any(|n| links.contains(&format!(" {n}:"))),
        "{links}"
    );
    let out = d.lxc(&["network", "set", "good0", "bogus.key", "1"]);
    check!(out.code != 0 && out.stderr.contains("bogus.key"), "{out:?}");
    // Nics on missing networks or with bad settings are refused and change nothing.
    d.ok(&["init", "busybox", "b1"]);
    let cfg = d.ok(&["config", "show", "b1"]);
    for args in [
        &[
            "config",
            "device",
            "add",
            "b1",
            "eth0",
            "nic",
            "network=nope",
        ][..],
        &[
            "config",
            "device",
            "add",
            "b1",
            "eth0",
            "nic",
            "network=good0",
            "nictype=bridged",
        ][..],
        &[
            "config",
            "device",
            "add",
            "b1",
            "eth0",
            "nic",
            "network=good0",
            "ipv4.address=10.9.9.9",
        ][..],
        &[
            "config",
            "device",
            "add",
            "b1",
            "eth0",
            "nic",
            "nictype=ipvlan",
            "parent=lo",
        ][..],
    ] {
        let out = d.lxc(args);
        check!(out.code != 0, "lxc {args:?} should fail: {out:?}");
    }
    check!(
        d.ok(&["config", "show", "b1"]) == cfg,
        "a refused device changed b1"
    );
    d.ok(&[
        "config",
        "device",
        "add",
        "b1",
        "eth0",
        "nic",
        "network=good0",
    ]);
    let out = d.lxc(&["network", "delete", "good0"]);
    check!(out.code != 0 && out.stderr.contains("in use"), "{out:?}");
    let out = d.lxc(&["network", "rename", "good0", "good1"]);
    check!(out.code != 0 && out.stderr.contains("in use"), "{out:?}");
    d.ok(&["delete", "b1"]);
    d.ok(&["network", "rename", "good0", "good1"]);
    check!(
        d.netns.sh("ip link show good1").code == 0 && d.netns.sh("ip link show good0").code != 0,
        "rename moved the bridge"
    );
    d.ok(&["network", "delete", "good1"]);
    Ok(())
}

pub fn init_auto_bridge_restart_and_shutdown() -> TestResult {
    let mut d = Daemon::start_bare("netinit");
    let out = d.lxd(&["init", "--auto"]);
    check!(out.code == 0, "lxd init --auto: {out:?}");
    let list = d.ok(&["network", "list", "-f", "csv"]);
    check!(list.contains("lxdbr0,bridge,YES"), "{list}");
    let prof = d.ok(&["profile", "show", "default"]);
    check!(
        prof.contains("network: lxdbr0") && prof.contains("name: eth0"),
        "{prof}"
    );
    let v4 = d.ok(&["network", "get", "lxdbr0", "ipv4.address"]);
    check!(v4.trim().ends_with(".1/24"), "auto subnet: {v4}");
    let img = d.dir.join("busybox.tar.xz");
    std::fs::copy(crate::fixture::busybox_image(), &img).map_err(|e| e.to_string())?;
    d.ok(&[
        "image",
        "import",
        img.to_str().unwrap(),
        "--alias",
        "busybox",
    ]);
    d.ok(&["launch", "busybox", "a1"]);
    let ip = wait_ipv4(&d, "a1")?;

    // A daemon restart leaves the network and the container's address alone.
    d.terminate();
    check!(
        d.netns.sh("ip link show lxdbr0").code == 0,
        "SIGTERM took the bridge down"
    );
    d.spawn();
    check!(wait_ipv4(&d, "a1")? == ip, "address changed over a restart");
    let out = exec(
        &d,
        "a1",
        "ping -c1 -W2 $(ip route | awk '/default/ {print $3}')",
    );
    check!(out.code == 0, "gateway after restart: {out:?}");

    // `lxd shutdown` stops the instances and then the networks.
    let out = d.lxd(&["shutdown"]);
    check!(out.code == 0, "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !d.exited() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    check!(
        d.netns.sh("ip link show lxdbr0").code != 0,
        "the bridge outlived lxd shutdown"
    );
    check!(
        footprint(&d.netns).3.is_empty(),
        "dnsmasq outlived lxd shutdown"
    );
    // The next start brings it back, and the container with it.
    d.spawn();
    check!(
        wait_ipv4(&d, "a1")?.starts_with(ip.rsplit_once('.').unwrap().0),
        "a1 back on lxdbr0"
    );
    d.ok(&["stop", "-f", "a1"]);
    Ok(())
}

pub fn init_interactive_asks_for_a_bridge() -> TestResult {
    let d = Daemon::start_bare("netask");
    // Clustering no; a dir pool; MAAS no; a new bridge "askbr0" with an explicit IPv4 and NAT,
    // no IPv6; not on the network; auto-update yes; no preseed printed.
    let answers = "no\nyes\ndefault\ndir\nno\nyes\naskbr0\n10.204.1.1/24\nyes\nnone\nno\nyes\nno\n";
    let out = d.lxd_stdin(&["init"], answers);
    check!(out.code == 0, "lxd init: {out:?}");
    check!(
        out.stdout
            .contains("Would you like to create a new local network bridge?")
            && out.stdout.contains("What IPv4 address should be used?"),
        "{out:?}"
    );
    let show = d.ok(&["network", "show", "askbr0"]);
    check!(
        show.contains("ipv4.address: 10.204.1.1/24")
            && show.contains("ipv4.nat: \"true\"")
            && show.contains("ipv6.address: none"),
        "{show}"
    );
    let prof = d.ok(&["profile", "show", "default"]);
    check!(
        prof.contains("network: askbr0") && prof.contains("pool: default"),
        "{prof}"
    );
    Ok(())
}
