//! A busybox root filesystem built offline from the host's static busybox (Debian's
//! `busybox-static`): every applet linked, busybox `init` as `/sbin/init`, and an `inittab`
//! that logs a line to the console and halts cleanly on `SIGPWR`; and busybox images (unified
//! or split) made from it with the `metadata.yaml` and templates LXD's images carry.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::build::{
    build_split, build_unified, ImageBuild, ImageSource, RootfsFormat, SplitImageBuild,
};
use super::compression::Compression;
use super::metadata::{host_architecture, ImageMetadata, TemplateEntry};
use super::{ImageError, Result as ImageResult};
use crate::error::{Error, Result};

/// Where Debian's `busybox-static` installs the binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

const INITTAB: &str = "\
::sysinit:/etc/init.d/rcS
::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
";

/// Boot script: loopback up, and a DHCP client (busybox `udhcpc`) on every `eth*` nic the
/// container starts with, as a distribution's network configuration would.
const RCS: &str = r#"#!/bin/sh
ip link set lo up 2>/dev/null
for dev in /sys/class/net/eth*; do
    [ -e "$dev" ] || continue
    name=${dev##*/}
    udhcpc -b -t 5 -T 1 -A 2 -i "$name" -x "hostname:$(hostname)" -s /usr/share/udhcpc/default.script \
        >/dev/null 2>&1 </dev/null &
done
echo "busybox container $(hostname) booted"
"#;

/// The `udhcpc` event script: configures the address, default route and resolvers it leased.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
        while ip route del default dev "$interface" 2>/dev/null; do :; done
        for r in $router; do
            ip route add default via "$r" dev "$interface"
            break
        done
    fi
    if [ -n "$dns" ]; then
        : > /etc/resolv.conf
        [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    fi
    ;;
esac
exit 0
"#;

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// Builds a busybox rootfs in `dest` (created; must not exist or be empty) from the static
/// busybox at `busybox`.
pub fn build_rootfs(dest: &Path, busybox: &Path) -> Result<()> {
    let static_check = fs::read(busybox).map_err(io("read busybox", busybox))?;
    // A dynamically linked busybox would need the host's libraries inside the container.
    if static_check.windows(13).any(|w| w == b"/lib64/ld-lin") {
        return Err(Error::io(
            "busybox is not statically linked (install busybox-static)",
            busybox,
            std::io::Error::from_raw_os_error(libc::ENOEXEC),
        ));
    }
    for d in [
        "",
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc/init.d",
        "usr/share/udhcpc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "var/log",
        "run",
        "home",
        "mnt",
    ] {
        let p = dest.join(d);
        fs::create_dir_all(&p).map_err(io("mkdir", &p))?;
    }
    let set_mode = |p: &Path, mode: u32| {
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", p, e))
    };
    set_mode(&dest.join("tmp"), 0o1777)?;
    set_mode(&dest.join("root"), 0o700)?;
    let target = dest.join("bin/busybox");
    fs::write(&target, &static_check).map_err(io("write", &target))?;
    set_mode(&target, 0o755)?;
    let list = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(io("run busybox --list-full", busybox))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet == "bin/busybox" || applet.contains("..") {
            continue;
        }
        let link = dest.join(applet);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(io("mkdir", parent))?;
        }
        if fs::symlink_metadata(&link).is_err() {
            symlink("/bin/busybox", &link).map_err(io("symlink", &link))?;
        }
    }
    let files: [(&str, &str, u32); 7] = [
        ("etc/inittab", INITTAB, 0o644),
        ("etc/init.d/rcS", RCS, 0o755),
        ("usr/share/udhcpc/default.script", UDHCPC_SCRIPT, 0o755),
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
        ),
        (
            "etc/group",
            "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
            0o644,
        ),
        ("etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", 0o644),
        ("etc/hostname", "busybox\n", 0o644),
    ];
    for (path, content, mode) in files {
        let p = dest.join(path);
        fs::write(&p, content).map_err(io("write", &p))?;
        set_mode(&p, mode)?;
    }
    if !dest.join("sbin/init").exists() {
        let p = dest.join("sbin/init");
        symlink("/bin/busybox", &p).map_err(io("symlink", &p))?;
    }
    Ok(())
}

/// The template LXD's images use for `/etc/hostname`.
pub const HOSTNAME_TPL: &str = "{{ container.name }}\n";

/// The template LXD's images use for `/etc/hosts`.
pub const HOSTS_TPL: &str = "127.0.1.1\t{{ container.name }}
127.0.0.1\tlocalhost
::1\t\tlocalhost ip6-localhost ip6-loopback
ff02::1\t\tip6-allnodes
ff02::2\t\tip6-allrouters
";

/// The busybox version (`1.35.0`) of the binary at `busybox`, from its `--help` banner.
pub fn version(busybox: &Path) -> Option<String> {
    let out = Command::new(busybox).arg("--help").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let v = text
        .split_whitespace()
        .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))?;
    Some(v[1..].to_string())
}

/// The `metadata.yaml` and template files of a busybox image, as LXD images have them:
/// `/etc/hostname` and `/etc/hosts` rendered on `create` and `copy`.
pub fn image_metadata(busybox: &Path) -> (ImageMetadata, BTreeMap<String, String>) {
    let arch = host_architecture();
    let release = version(busybox).unwrap_or_else(|| "1.35".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(1);
    let rule = |tpl: &str| TemplateEntry {
        when: vec!["create".into(), "copy".into()],
        create_only: false,
        template: tpl.into(),
        properties: BTreeMap::new(),
    };
    let meta = ImageMetadata {
        architecture: arch.to_string(),
        creation_date: now,
        expiry_date: 0,
        properties: BTreeMap::from([
            ("os".to_string(), "busybox".to_string()),
            ("release".to_string(), release.clone()),
            ("architecture".to_string(), arch.to_string()),
            (
                "description".to_string(),
                format!("Busybox {release} {arch}"),
            ),
            ("name".to_string(), format!("busybox-{release}-{arch}")),
        ]),
        templates: BTreeMap::from([
            ("/etc/hostname".to_string(), rule("hostname.tpl")),
            ("/etc/hosts".to_string(), rule("hosts.tpl")),
        ]),
    };
    let templates = BTreeMap::from([
        ("hostname.tpl".to_string(), HOSTNAME_TPL.to_string()),
        ("hosts.tpl".to_string(), HOSTS_TPL.to_string()),
    ]);
    (meta, templates)
}

/// A temporary rootfs directory next to an image being built, removed on drop.
struct TempRootfs(PathBuf);

impl TempRootfs {
    fn next_to(out: &Path) -> Self {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        TempRootfs(out.with_file_name(format!(".{name}.rootfs-{}", std::process::id())))
    }
}

impl Drop for TempRootfs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn build_tree(out: &Path) -> ImageResult<TempRootfs> {
    let tmp = TempRootfs::next_to(out);
    build_rootfs(&tmp.0, Path::new(HOST_BUSYBOX)).map_err(|e| ImageError::Build {
        path: out.to_path_buf(),
        source: Box::new(e),
    })?;
    Ok(tmp)
}

/// Builds a unified busybox image at `out` (xz-compressed tarball) from [`build_rootfs`] and
/// [`image_metadata`], offline, and returns it with its fingerprint.
pub fn build_image(out: &Path) -> ImageResult<ImageBuild> {
    let tree = build_tree(out)?;
    let (meta, templates) = image_metadata(Path::new(HOST_BUSYBOX));
    let src = ImageSource {
        rootfs: &tree.0,
        metadata: &meta,
        templates: &templates,
    };
    build_unified(&src, out, Compression::Xz)
}

/// Builds a split busybox image: the metadata tarball `metadata_out` (xz) and the rootfs
/// `rootfs_out` as a tarball or a squashfs file.
pub fn build_split_image(
    metadata_out: &Path,
    rootfs_out: &Path,
    format: RootfsFormat,
) -> ImageResult<SplitImageBuild> {
    let tree = build_tree(rootfs_out)?;
    let (meta, templates) = image_metadata(Path::new(HOST_BUSYBOX));
    let src = ImageSource {
        rootfs: &tree.0,
        metadata: &meta,
        templates: &templates,
    };
    build_split(&src, metadata_out, rootfs_out, Compression::Xz, format)
}
