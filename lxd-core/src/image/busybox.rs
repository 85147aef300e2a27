//! A busybox root filesystem built offline from the host's static busybox (Debian's
//! `busybox-static`): every applet linked, busybox `init` as `/sbin/init`, and an `inittab`
//! that logs a line to the console and halts cleanly on `SIGPWR`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// Where Debian's `busybox-static` installs the binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

const INITTAB: &str = "\
::sysinit:/etc/init.d/rcS
::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
";

const RCS: &str = "#!/bin/sh\necho \"busybox container $(hostname) booted\"\n";

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
    let files: [(&str, &str, u32); 6] = [
        ("etc/inittab", INITTAB, 0o644),
        ("etc/init.d/rcS", RCS, 0o755),
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
