//! Crafted tarballs (raw header paths written with the `tar` crate) that try to write outside
//! the volume or through symlinks: each is refused with `ImageError::Unsafe` naming the entry,
//! the destination is left empty, and nothing appears in a canary directory, next to the
//! destination or in /etc.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, ensure, Result};
use lxd_core::image::{self, ImageError, ImageFiles, UnpackOptions};

use crate::fixture::{is_empty, listing, TestDir, METADATA_YAML};

/// One raw tar entry.
#[derive(Clone)]
enum E {
    Dir(String),
    File(String, &'static [u8]),
    Symlink(String, String),
    Hardlink(String, String),
}

fn raw(slot: &mut [u8], value: &str) -> Result<()> {
    ensure!(
        value.len() < slot.len(),
        "name too long for a raw header: {value}"
    );
    slot.fill(0);
    slot[..value.len()].copy_from_slice(value.as_bytes());
    Ok(())
}

/// Writes `entries` as an uncompressed tarball with the names exactly as given.
fn craft(path: &Path, entries: &[E]) -> Result<()> {
    let mut b = tar::Builder::new(File::create(path)?);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, link, data): (&str, tar::EntryType, Option<&str>, &[u8]) = match e {
            E::Dir(n) => (n, tar::EntryType::Directory, None, b""),
            E::File(n, d) => (n, tar::EntryType::Regular, None, d),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, Some(t), b""),
            E::Hardlink(n, t) => (n, tar::EntryType::Link, Some(t), b""),
        };
        raw(&mut h.as_old_mut().name, name)?;
        if let Some(l) = link {
            raw(&mut h.as_old_mut().linkname, l)?;
        }
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Regular {
            0o644
        } else {
            0o755
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data)?;
    }
    b.into_inner()?.sync_all()?;
    Ok(())
}

fn d(n: &str) -> E {
    E::Dir(n.into())
}
fn f(n: &str) -> E {
    E::File(n.into(), b"pwned\n")
}
fn sl(n: &str, t: &str) -> E {
    E::Symlink(n.into(), t.into())
}
fn hl(n: &str, t: &str) -> E {
    E::Hardlink(n.into(), t.into())
}

/// Entries written before the bad one, so that cleanup has something to remove.
fn good_prefix() -> Vec<E> {
    vec![
        E::File("metadata.yaml".into(), METADATA_YAML.as_bytes()),
        d("rootfs/"),
        d("rootfs/bin/"),
        E::File("rootfs/bin/tool".into(), b"#!/bin/sh\n"),
    ]
}

/// Unpacks `files` into a new directory and checks the refusal.
fn expect_refused(
    t: &TestDir,
    case: &str,
    files: &ImageFiles,
    entry: &str,
    canary: &Path,
) -> Result<()> {
    let dest = t.mkdir(&format!("dest-{case}"));
    let before = listing(&t.path)?;
    let canary_before = listing(canary)?;
    let shadow_links = std::fs::metadata("/etc/shadow").map(|m| m.nlink()).ok();
    match image::unpack(files, &dest, &UnpackOptions::default()) {
        Err(ImageError::Unsafe { entry: got, reason }) => {
            ensure!(
                got == entry,
                "{case}: the error names {got:?} ({reason}), expected {entry:?}"
            );
            ensure!(!reason.is_empty());
        }
        other => bail!("{case}: expected ImageError::Unsafe for {entry:?}, got {other:?}"),
    }
    ensure!(is_empty(&dest)?, "{case}: the destination was not emptied");
    ensure!(
        listing(&t.path)? == before,
        "{case}: something appeared next to the destination"
    );
    ensure!(
        listing(canary)? == canary_before,
        "{case}: the canary directory changed"
    );
    ensure!(
        std::fs::metadata("/etc/shadow").map(|m| m.nlink()).ok() == shadow_links,
        "{case}: /etc/shadow gained a link"
    );
    Ok(())
}

pub fn malicious_tarballs_are_refused() -> Result<()> {
    let t = TestDir::new("unsafe");
    let canary = t.mkdir("canary");
    std::fs::write(canary.join("secret"), "secret")?;
    let c = canary.display().to_string();
    let etc_probe = format!("lxd-images-test-{}", std::process::id());
    let with = |extra: Vec<E>| {
        let mut v = good_prefix();
        v.extend(extra);
        v
    };
    let cases: Vec<(&str, Vec<E>, String)> = vec![
        (
            "dotdot",
            with(vec![f("../canary/escape")]),
            "../canary/escape".into(),
        ),
        (
            "dotdot-inner",
            with(vec![f("rootfs/../../canary/escape")]),
            "rootfs/../../canary/escape".into(),
        ),
        (
            "absolute",
            with(vec![f(&format!("{c}/abs"))]),
            format!("{c}/abs"),
        ),
        (
            "write-through-symlink",
            with(vec![sl("rootfs/link", &c), f("rootfs/link/passwd")]),
            "rootfs/link/passwd".into(),
        ),
        (
            // `rootfs/etc -> /etc` then a file in it: a unique name, so that even a broken
            // unpacker would only add a file to /etc, never replace one.
            "etc-symlink",
            with(vec![
                sl("rootfs/etc", "/etc"),
                f(&format!("rootfs/etc/{etc_probe}")),
            ]),
            format!("rootfs/etc/{etc_probe}"),
        ),
        (
            "dotdot-symlink-chain",
            with(vec![
                sl("rootfs/a", "../../.."),
                sl("rootfs/b", "a"),
                f("rootfs/a/x"),
            ]),
            "rootfs/a/x".into(),
        ),
        (
            "dotdot-symlink-chain-2",
            with(vec![
                sl("rootfs/a", "../../.."),
                sl("rootfs/b", "a"),
                f("rootfs/b/x"),
            ]),
            "rootfs/b/x".into(),
        ),
        (
            "hardlink-absolute",
            with(vec![hl("rootfs/shadow", "/etc/shadow")]),
            "rootfs/shadow".into(),
        ),
        (
            "hardlink-dotdot",
            with(vec![hl("rootfs/secret", "rootfs/../../canary/secret")]),
            "rootfs/secret".into(),
        ),
        (
            "hardlink-through-symlink",
            with(vec![
                sl("rootfs/l", &c),
                hl("rootfs/secret", "rootfs/l/secret"),
            ]),
            "rootfs/secret".into(),
        ),
        (
            "hardlink-not-yet-extracted",
            with(vec![hl("rootfs/x", "rootfs/later")]),
            "rootfs/x".into(),
        ),
        (
            "rootfs-is-a-symlink",
            vec![
                E::File("metadata.yaml".into(), METADATA_YAML.as_bytes()),
                sl("rootfs", &c),
                f("rootfs/x"),
            ],
            "rootfs".into(),
        ),
        (
            "templates-is-a-symlink",
            with(vec![sl("templates", &c), f("templates/x.tpl")]),
            "templates".into(),
        ),
        (
            "metadata-is-a-symlink",
            vec![d("rootfs/"), sl("metadata.yaml", "/etc/passwd")],
            "metadata.yaml".into(),
        ),
        (
            "symlink-replaces-directory",
            with(vec![sl("rootfs/bin", &c), f("rootfs/bin/evil")]),
            "rootfs/bin".into(),
        ),
    ];
    for (case, entries, entry) in cases {
        let tarball = t.join(&format!("{case}.tar"));
        craft(&tarball, &entries)?;
        expect_refused(
            &t,
            case,
            &ImageFiles::Unified(tarball.clone()),
            &entry,
            &canary,
        )?;
        std::fs::remove_file(&tarball)?;
        ensure!(
            !Path::new("/etc").join(&etc_probe).exists(),
            "{case}: a file appeared in /etc"
        );
    }

    // Split images: a bad rootfs tarball (its metadata was already unpacked: removed too), and
    // a metadata tarball that tries to provide rootfs/.
    let meta = t.join("meta.tar");
    craft(
        &meta,
        &[
            E::File("metadata.yaml".into(), METADATA_YAML.as_bytes()),
            d("templates/"),
            f("templates/h.tpl"),
        ],
    )?;
    let rootfs = t.join("rootfs.tar");
    craft(
        &rootfs,
        &[d("./"), d("./bin/"), f("./bin/x"), f("../escape")],
    )?;
    let files = ImageFiles::Split {
        metadata: meta.clone(),
        rootfs: rootfs.clone(),
    };
    expect_refused(&t, "split-rootfs-dotdot", &files, "../escape", &canary)?;
    craft(&rootfs, &[d("./"), sl("./etc", &c), f("./etc/passwd")])?;
    expect_refused(&t, "split-rootfs-symlink", &files, "./etc/passwd", &canary)?;
    let meta2 = t.join("meta2.tar");
    craft(
        &meta2,
        &[
            E::File("metadata.yaml".into(), METADATA_YAML.as_bytes()),
            f("rootfs/evil"),
        ],
    )?;
    craft(&rootfs, &[d("./"), f("./ok")])?;
    let files = ImageFiles::Split {
        metadata: meta2,
        rootfs: rootfs.clone(),
    };
    expect_refused(
        &t,
        "split-metadata-with-rootfs",
        &files,
        "rootfs/evil",
        &canary,
    )?;

    // The same layout without the bad entries unpacks: the refusals are about the entries.
    let ok = t.join("ok.tar");
    craft(
        &ok,
        &with(vec![
            sl("rootfs/link", &c),
            sl("rootfs/a", "../../.."),
            hl("rootfs/bin/tool2", "rootfs/bin/tool"),
        ]),
    )?;
    let dest = t.mkdir("dest-ok");
    let s = image::unpack(&ImageFiles::Unified(ok), &dest, &UnpackOptions::default())?;
    ensure!(s.entries == 7, "{s:?}");
    ensure!(std::fs::read_link(dest.join("rootfs/link"))? == canary);
    ensure!(
        std::fs::metadata(dest.join("rootfs/bin/tool2"))?.ino()
            == std::fs::metadata(dest.join("rootfs/bin/tool"))?.ino()
    );
    Ok(())
}
