//! `lxc file` against the daemon: push (single, with mode and owner, recursive, with parents),
//! pull (single, to stdout, recursive), delete, errors, the raw API (headers, listings,
//! symlinks, `HEAD`, append, ranges, bad headers), stopped instances, and attempts to reach
//! host files through symlinks, `..` and magic links.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::check;
use crate::exec::curl;
use crate::fixture::Daemon;
use crate::TestResult;

/// A scratch directory on the host, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(d: &Daemon, name: &str) -> Scratch {
        let p = d.dir.join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create scratch directory");
        Scratch(p)
    }

    fn file(&self, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).expect("write scratch file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .expect("chmod scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `stat -c '%a %u %g'` of a path in the container.
fn stat(d: &Daemon, inst: &str, path: &str) -> String {
    d.lxc(&["exec", inst, "--", "stat", "-c", "%a %u %g", path])
        .stdout
        .trim()
        .to_string()
}

fn cat(d: &Daemon, inst: &str, path: &str) -> String {
    d.lxc(&["exec", inst, "--", "cat", path]).stdout
}

/// Push and pull of single files, modes and owners, parents, recursion, delete and errors on a
/// running container.
pub fn push_pull_delete() -> TestResult {
    let d = Daemon::start("files");
    d.ok(&["launch", "busybox", "c1"]);
    let host = Scratch::new(&d, "scratch");

    let f = host.file("hello.txt", b"hello\n", 0o640);
    d.ok(&["file", "push", s(&f), "c1/tmp/x"]);
    check!(cat(&d, "c1", "/tmp/x") == "hello\n", "pushed content");
    // The client copies the source's mode and owner.
    check!(
        stat(&d, "c1", "/tmp/x") == "640 0 0",
        "pushed mode: {}",
        stat(&d, "c1", "/tmp/x")
    );

    d.ok(&[
        "file",
        "push",
        "--mode",
        "0600",
        "--uid",
        "1000",
        "--gid",
        "1000",
        s(&f),
        "c1/tmp/y",
    ]);
    check!(
        stat(&d, "c1", "/tmp/y") == "600 1000 1000",
        "mode and owner: {}",
        stat(&d, "c1", "/tmp/y")
    );
    // Pushing over an existing file replaces the content and keeps mode and owner (LXD).
    let f2 = host.file("other.txt", b"replaced\n", 0o644);
    d.ok(&["file", "push", s(&f2), "c1/tmp/y"]);
    check!(
        cat(&d, "c1", "/tmp/y") == "replaced\n" && stat(&d, "c1", "/tmp/y") == "600 1000 1000",
        "overwrite: {}",
        stat(&d, "c1", "/tmp/y")
    );

    let out = d.ok(&["file", "pull", "c1/etc/hostname", "-"]);
    check!(out == "c1\n", "pull hostname: {out:?}");
    let out = d.ok(&["file", "pull", "c1/tmp/y", "-"]);
    check!(out == "replaced\n", "pull: {out:?}");
    let dest = host.0.join("pulled-y");
    d.ok(&["file", "pull", "c1/tmp/y", s(&dest)]);
    check!(
        std::fs::read(&dest).unwrap_or_default() == b"replaced\n",
        "pull to a file"
    );

    // -p creates the parents, 0750 by default.
    d.ok(&["file", "push", "-p", s(&f), "c1/tmp/new/deep/z"]);
    check!(
        cat(&d, "c1", "/tmp/new/deep/z") == "hello\n",
        "push -p content"
    );
    check!(
        stat(&d, "c1", "/tmp/new") == "750 0 0",
        "parent mode: {}",
        stat(&d, "c1", "/tmp/new")
    );

    // Recursive push keeps modes and symlinks.
    let tree = host.0.join("pushdir");
    std::fs::create_dir_all(tree.join("sub")).map_err(|e| e.to_string())?;
    std::fs::set_permissions(tree.join("sub"), std::fs::Permissions::from_mode(0o750))
        .map_err(|e| e.to_string())?;
    std::fs::write(tree.join("a.txt"), b"a\n").map_err(|e| e.to_string())?;
    std::fs::write(tree.join("sub/b.txt"), b"b\n").map_err(|e| e.to_string())?;
    symlink("a.txt", tree.join("link")).map_err(|e| e.to_string())?;
    d.ok(&["file", "push", "-r", s(&tree), "c1/tmp/"]);
    check!(
        cat(&d, "c1", "/tmp/pushdir/sub/b.txt") == "b\n",
        "push -r content"
    );
    check!(
        stat(&d, "c1", "/tmp/pushdir/sub") == "750 0 0",
        "push -r dir mode"
    );
    let link = d
        .lxc(&["exec", "c1", "--", "readlink", "/tmp/pushdir/link"])
        .stdout;
    check!(link == "a.txt\n", "push -r symlink: {link:?}");
    // Pushing the same tree again is fine (same symlink, existing directories).
    d.ok(&["file", "push", "-r", s(&tree), "c1/tmp/"]);

    // Pulling a symlink to stdout follows it; recursive pull copies the tree back.
    let out = d.ok(&["file", "pull", "c1/tmp/pushdir/link", "-"]);
    check!(out == "a\n", "pull through a symlink: {out:?}");
    let back = host.0.join("back");
    std::fs::create_dir_all(&back).map_err(|e| e.to_string())?;
    d.ok(&[
        "file",
        "pull",
        "-r",
        "c1/tmp/pushdir",
        &format!("{}/", back.display()),
    ]);
    check!(
        std::fs::read(back.join("pushdir/sub/b.txt")).unwrap_or_default() == b"b\n",
        "pull -r content"
    );
    check!(
        std::fs::read(back.join("pushdir/a.txt")).unwrap_or_default() == b"a\n",
        "pull -r a.txt"
    );

    // A large file, both ways (streamed).
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let bigf = host.file("big.bin", &big, 0o644);
    d.ok(&["file", "push", s(&bigf), "c1/tmp/big.bin"]);
    let sum = d
        .lxc(&["exec", "c1", "--", "wc", "-c", "/tmp/big.bin"])
        .stdout;
    check!(
        sum.starts_with(&big.len().to_string()),
        "big push size: {sum:?}"
    );
    let bigback = host.0.join("big.back");
    d.ok(&["file", "pull", "c1/tmp/big.bin", s(&bigback)]);
    check!(
        std::fs::read(&bigback).unwrap_or_default() == big,
        "big pull differs"
    );

    d.ok(&["file", "delete", "c1/tmp/x"]);
    let out = d.lxc(&["exec", "c1", "--", "test", "-e", "/tmp/x"]);
    check!(out.code == 1, "deleted file still there: {out:?}");
    // A symlink is deleted itself, not its target.
    d.ok(&["file", "delete", "c1/tmp/pushdir/link"]);
    check!(
        cat(&d, "c1", "/tmp/pushdir/a.txt") == "a\n",
        "symlink target deleted"
    );
    let out = d.lxc(&["file", "delete", "c1/tmp/pushdir"]);
    check!(
        out.code != 0 && out.stderr.contains("not empty"),
        "non-empty directory: {out:?}"
    );
    d.ok(&["file", "delete", "c1/tmp/new/deep/z"]);
    d.ok(&["file", "delete", "c1/tmp/new/deep"]);
    let out = d.lxc(&["exec", "c1", "--", "ls", "/tmp/new"]);
    check!(
        out.code == 0 && out.stdout.trim().is_empty(),
        "empty directory not deleted: {out:?}"
    );

    let out = d.lxc(&["file", "pull", "c1/nonexist", "-"]);
    check!(
        out.code != 0 && out.stderr.contains("Error: Not Found"),
        "missing file: {out:?}"
    );
    let out = d.lxc(&["file", "delete", "c1/tmp/nonexist"]);
    check!(
        out.code != 0 && out.stderr.contains("Not Found"),
        "delete missing: {out:?}"
    );
    let out = d.lxc(&["file", "pull", "c1/tmp/new", "-"]);
    check!(out.code != 0, "pulled a directory without -r: {out:?}");
    Ok(())
}

/// The raw API: headers, listings, symlink targets, `HEAD`, defaults, append, ranges and
/// refused headers that leave nothing behind.
pub fn raw_api() -> TestResult {
    let d = Daemon::start("files-api");
    d.ok(&["launch", "busybox", "c1"]);
    let url = |p: &str| format!("/1.0/instances/c1/files?path={p}");

    let r = curl(&d, "GET", &url("etc%2Fhostname"), &[], None);
    check!(r.status == 200 && r.body == b"c1\n", "GET file: {r:?}");
    for (h, want) in [
        ("x-lxd-type", "file"),
        ("x-lxd-uid", "0"),
        ("x-lxd-gid", "0"),
        ("content-type", "application/octet-stream"),
        ("content-disposition", "inline;filename=hostname"),
        ("content-length", "3"),
        ("accept-ranges", "bytes"),
    ] {
        check!(r.header(h) == Some(want), "header {h}: {r:?}");
    }
    check!(
        r.header("x-lxd-mode")
            .is_some_and(|m| m.len() == 4 && m.starts_with('0')),
        "mode header: {r:?}"
    );
    check!(
        r.header("x-lxd-modified")
            .is_some_and(|m| m.ends_with(" +0000 UTC")),
        "modified header: {r:?}"
    );
    check!(
        r.header("last-modified")
            .is_some_and(|m| m.ends_with(" GMT")),
        "last-modified: {r:?}"
    );

    let r = curl(&d, "HEAD", &url("/etc/hostname"), &[], None);
    check!(
        r.status == 200 && r.body.is_empty() && r.header("x-lxd-type") == Some("file"),
        "HEAD: {r:?}"
    );

    let r = curl(
        &d,
        "GET",
        &url("/etc/hostname"),
        &["Range: bytes=1-1"],
        None,
    );
    check!(
        r.status == 206 && r.body == b"1" && r.header("content-range") == Some("bytes 1-1/3"),
        "range: {r:?}"
    );

    // Without a mode a new file is 0644; a directory 0750; owner root.
    let r = curl(
        &d,
        "POST",
        &url("/tmp/nomode"),
        &["X-LXD-type: file"],
        Some(b"x"),
    );
    check!(
        r.status == 200 && r.json()["metadata"] == serde_json::json!({}),
        "POST without mode: {r:?}"
    );
    check!(
        stat(&d, "c1", "/tmp/nomode") == "644 0 0",
        "default file mode: {}",
        stat(&d, "c1", "/tmp/nomode")
    );
    let r = curl(
        &d,
        "POST",
        &url("/tmp/dir"),
        &[
            "X-LXD-type: directory",
            "X-LXD-uid: 1000",
            "X-LXD-gid: 1001",
        ],
        None,
    );
    check!(r.status == 200, "mkdir: {r:?}");
    check!(
        stat(&d, "c1", "/tmp/dir") == "750 1000 1001",
        "directory: {}",
        stat(&d, "c1", "/tmp/dir")
    );
    let r = curl(
        &d,
        "POST",
        &url("/tmp/nomode"),
        &["X-LXD-write: append"],
        Some(b"yz"),
    );
    check!(
        r.status == 200 && cat(&d, "c1", "/tmp/nomode") == "xyz",
        "append: {r:?}"
    );

    // Directory listing with headers.
    let r = curl(&d, "GET", &url("tmp%2Fdir"), &[], None);
    check!(
        r.status == 200 && r.json()["metadata"] == serde_json::json!([]),
        "empty listing: {r:?}"
    );
    check!(
        r.header("x-lxd-type") == Some("directory")
            && r.header("x-lxd-mode") == Some("0750")
            && r.header("x-lxd-uid") == Some("1000"),
        "directory headers: {r:?}"
    );
    let r = curl(&d, "GET", &url("/etc"), &[], None);
    let names = r.json()["metadata"].clone();
    check!(
        names.as_array().is_some_and(
            |a| a.iter().any(|n| n == "hostname") && !a.iter().any(|n| n == "." || n == "..")
        ),
        "listing of /etc: {names}"
    );

    // A symlink comes back as its target made absolute.
    let r = curl(
        &d,
        "POST",
        &url("/tmp/dir/link"),
        &["X-LXD-type: symlink"],
        Some(b"../nomode"),
    );
    check!(r.status == 200, "symlink: {r:?}");
    let r = curl(&d, "GET", &url("/tmp/dir/link"), &[], None);
    check!(
        r.status == 200
            && r.header("x-lxd-type") == Some("symlink")
            && r.body == b"/tmp/nomode"
            && r.header("x-lxd-mode") == Some("0777"),
        "symlink GET: {r:?}"
    );
    let r = curl(
        &d,
        "POST",
        &url("/tmp/dir/link"),
        &["X-LXD-type: symlink"],
        Some(b"elsewhere"),
    );
    check!(r.status == 409, "symlink over another: {r:?}");

    // Refused input: clear errors, nothing created.
    for (headers, word) in [
        (vec!["X-LXD-type: fifo"], "X-LXD-type"),
        (vec!["X-LXD-mode: 9z"], "X-LXD-mode"),
        (vec!["X-LXD-uid: abc"], "X-LXD-uid"),
        (vec!["X-LXD-write: prepend"], "X-LXD-write"),
        (vec!["X-LXD-uid: 4000000000"], "not mapped"),
    ] {
        let r = curl(&d, "POST", &url("/tmp/refused"), &headers, Some(b"data"));
        check!(
            r.status == 400 && r.text().contains(word),
            "{headers:?}: {r:?}"
        );
    }
    let out = d.lxc(&["exec", "c1", "--", "test", "-e", "/tmp/refused"]);
    check!(out.code == 1, "a refused push left a file");
    let r = curl(&d, "GET", "/1.0/instances/c1/files", &[], None);
    check!(
        r.status == 400 && r.text().contains("Missing path argument"),
        "no path: {r:?}"
    );
    let r = curl(&d, "POST", &url("/tmp/missing/parent/f"), &[], Some(b"x"));
    check!(
        r.status == 404 && r.json()["error"] == "Not Found",
        "missing parent: {r:?}"
    );
    let r = curl(&d, "GET", &url("/nonexist"), &[], None);
    check!(
        r.status == 404 && r.json()["error"] == "Not Found",
        "missing: {r:?}"
    );
    let r = curl(
        &d,
        "GET",
        "/1.0/instances/nosuch/files?path=/etc/hostname",
        &[],
        None,
    );
    check!(
        r.status == 404 && r.json()["error"] == "Instance not found",
        "missing instance: {r:?}"
    );
    let r = curl(&d, "DELETE", &url("/"), &[], None);
    check!(r.status == 400, "delete /: {r:?}");
    Ok(())
}

/// Files of a stopped instance: never started (container ids on disk) and after a run.
pub fn stopped_instance() -> TestResult {
    let d = Daemon::start("files-stopped");
    let host = Scratch::new(&d, "scratch");
    let f = host.file("f.txt", b"stopped\n", 0o644);

    d.ok(&["init", "busybox", "c2"]);
    d.ok(&[
        "file",
        "push",
        "--mode",
        "0600",
        "--uid",
        "1000",
        "--gid",
        "1000",
        s(&f),
        "c2/root/f",
    ]);
    d.ok(&["file", "push", "-p", s(&f), "c2/opt/a/b"]);
    let out = d.ok(&["file", "pull", "c2/root/f", "-"]);
    check!(out == "stopped\n", "pull while stopped: {out:?}");
    let r = curl(&d, "GET", "/1.0/instances/c2/files?path=/root/f", &[], None);
    check!(
        r.header("x-lxd-uid") == Some("1000") && r.header("x-lxd-mode") == Some("0600"),
        "ids while stopped: {r:?}"
    );
    d.ok(&["start", "c2"]);
    check!(
        stat(&d, "c2", "/root/f") == "600 1000 1000",
        "owner after start: {}",
        stat(&d, "c2", "/root/f")
    );
    check!(
        stat(&d, "c2", "/opt/a") == "750 0 0",
        "parent after start: {}",
        stat(&d, "c2", "/opt/a")
    );

    // After a run, stopped again: still container ids.
    d.ok(&["stop", "-f", "c2"]);
    d.ok(&[
        "file",
        "push",
        "--uid",
        "1002",
        "--gid",
        "1003",
        s(&f),
        "c2/root/g",
    ]);
    d.ok(&["file", "delete", "c2/root/f"]);
    d.ok(&["start", "c2"]);
    check!(
        stat(&d, "c2", "/root/g") == "644 1002 1003",
        "owner after restart: {}",
        stat(&d, "c2", "/root/g")
    );
    let out = d.lxc(&["exec", "c2", "--", "test", "-e", "/root/f"]);
    check!(out.code == 1, "deleted while stopped, still there");
    Ok(())
}

/// Nothing on the host is read or written through the container's symlinks, `..` or magic
/// links, running or stopped.
pub fn escape_attempts() -> TestResult {
    let d = Daemon::start("files-escape");
    d.ok(&["launch", "busybox", "c1"]);
    let host = Scratch::new(&d, "scratch");
    let tag = format!("lxd-dt-escape-{}", std::process::id());
    let f = host.file("payload", tag.as_bytes(), 0o644);
    let core_before = std::fs::read("/proc/sys/kernel/core_pattern").map_err(|e| e.to_string())?;
    let host_shadow = std::fs::read("/etc/shadow").unwrap_or_default();
    let host_paths = [
        PathBuf::from(format!("/etc/{tag}")),
        PathBuf::from(format!("/etc/{tag}-2")),
        PathBuf::from(format!("/etc/{tag}-stopped")),
        PathBuf::from(format!("/{tag}")),
        PathBuf::from(format!("/tmp/{tag}")),
    ];
    let host_untouched = || host_paths.iter().all(|p| !p.exists());

    // The busybox image has no /etc/shadow: give the container its own, to tell them apart.
    let setup = "echo container-shadow-$$ > /etc/shadow; ln -s /etc/shadow /tmp/evil; ln -s ../../../../../../etc /tmp/up; ln -s /proc/1/root /tmp/magic; ln -s /proc/sys/kernel/core_pattern /tmp/core; mkdir /tmp/d; ln -s / /tmp/d/rootlink";
    let out = d.lxc(&["exec", "c1", "--", "sh", "-c", setup]);
    check!(out.code == 0, "setup: {out:?}");

    let container_shadow = d.lxc(&["exec", "c1", "--", "cat", "/etc/shadow"]);
    check!(
        container_shadow.stdout.starts_with("container-shadow-"),
        "container shadow: {container_shadow:?}"
    );
    let pulled = d.lxc(&["file", "pull", "c1/tmp/evil", "-"]);
    check!(
        pulled.code == 0 && pulled.stdout == container_shadow.stdout,
        "pull through /tmp/evil: {pulled:?}"
    );
    check!(
        pulled.stdout.as_bytes() != host_shadow.as_slice(),
        "the host's /etc/shadow came out"
    );
    let r = curl(
        &d,
        "GET",
        "/1.0/instances/c1/files?path=/tmp/evil",
        &[],
        None,
    );
    check!(
        r.header("x-lxd-type") == Some("symlink") && r.body == b"/etc/shadow",
        "symlink GET: {r:?}"
    );
    let r = curl(
        &d,
        "GET",
        "/1.0/instances/c1/files?path=/tmp/d/rootlink/../../../etc/shadow",
        &[],
        None,
    );
    check!(
        r.body != host_shadow,
        "the host's /etc/shadow came out through .."
    );

    // Through `..` symlinks and `..` in the path: the container's /etc.
    d.ok(&["file", "push", s(&f), &format!("c1/tmp/up/{tag}")]);
    check!(
        cat(&d, "c1", &format!("/etc/{tag}")) == tag,
        "push through /tmp/up did not land in the container's /etc"
    );
    d.ok(&[
        "file",
        "push",
        s(&f),
        &format!("c1/tmp/../../../../etc/{tag}-2"),
    ]);
    check!(
        cat(&d, "c1", &format!("/etc/{tag}-2")) == tag,
        "push with .. did not land in the container's /etc"
    );
    d.ok(&["file", "push", s(&f), &format!("c1/tmp/d/rootlink/{tag}")]);
    check!(
        cat(&d, "c1", &format!("/{tag}")) == tag,
        "push through a link to / did not land in the container's /"
    );
    check!(host_untouched(), "a host file was created");

    // Magic links are refused.
    let out = d.lxc(&["file", "push", s(&f), &format!("c1/tmp/magic/tmp/{tag}")]);
    check!(out.code != 0, "push through /proc/1/root accepted: {out:?}");
    let out = d.lxc(&["file", "pull", "c1/tmp/magic/etc/hostname", "-"]);
    check!(out.code != 0, "pull through /proc/1/root accepted: {out:?}");
    let r = curl(
        &d,
        "GET",
        "/1.0/instances/c1/files?path=/proc/self/root/etc/hostname",
        &[],
        None,
    );
    check!(r.status >= 400, "pull through /proc/self/root: {r:?}");

    // Pseudo filesystems are not written, whichever way they are reached.
    let out = d.lxc(&["file", "push", s(&f), "c1/tmp/core"]);
    check!(
        out.code != 0,
        "push to core_pattern through a symlink accepted: {out:?}"
    );
    let out = d.lxc(&["file", "push", s(&f), "c1/proc/sys/kernel/core_pattern"]);
    check!(out.code != 0, "push to /proc/sys accepted: {out:?}");
    let core_after = std::fs::read("/proc/sys/kernel/core_pattern").map_err(|e| e.to_string())?;
    check!(core_after == core_before, "the host's core_pattern changed");

    // Delete through the symlinked directory removes the container's file only.
    d.ok(&["file", "delete", &format!("c1/tmp/up/{tag}")]);
    let out = d.lxc(&["exec", "c1", "--", "test", "-e", &format!("/etc/{tag}")]);
    check!(out.code == 1, "delete through /tmp/up");

    // Stopped: the same links resolve in the rootfs.
    d.ok(&["stop", "-f", "c1"]);
    let pulled = d.lxc(&["file", "pull", "c1/tmp/evil", "-"]);
    check!(
        pulled.stdout.as_bytes() != host_shadow.as_slice(),
        "the host's /etc/shadow came out (stopped)"
    );
    check!(
        pulled.stdout == container_shadow.stdout,
        "stopped pull through /tmp/evil: {pulled:?}"
    );
    // Without the container's file, the same link is a 404, never the host's file.
    let r = curl(
        &d,
        "DELETE",
        "/1.0/instances/c1/files?path=/etc/shadow",
        &[],
        None,
    );
    check!(r.status == 200, "delete the container's shadow: {r:?}");
    let pulled = d.lxc(&["file", "pull", "c1/tmp/evil", "-"]);
    check!(
        pulled.code != 0 && pulled.stderr.contains("Not Found"),
        "dangling /tmp/evil: {pulled:?}"
    );
    d.ok(&["file", "push", s(&f), &format!("c1/tmp/up/{tag}-stopped")]);
    let out = d.lxc(&["file", "push", s(&f), &format!("c1/tmp/magic/{tag}")]);
    check!(
        out.code != 0,
        "push through a magic link accepted (stopped): {out:?}"
    );
    d.ok(&["start", "c1"]);
    check!(
        cat(&d, "c1", &format!("/etc/{tag}-stopped")) == tag,
        "stopped push through /tmp/up did not land in the container"
    );
    check!(host_untouched(), "a host file was created");
    Ok(())
}
