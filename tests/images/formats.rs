//! Formats, fingerprints, metadata and builders: images made with the `tar`, `xz`, `gzip`,
//! `bzip2`, `zstd`, `lzma` and `mksquashfs` commands (not with lxd-core) are unpacked and
//! compared with their source tree; fingerprints are checked against `sha256sum`.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use lxd_core::image::{
    self, busybox, debian, Compression, FileFormat, ImageError, ImageFiles, RootfsFormat,
    UnpackOptions,
};

use crate::fixture::{
    assert_same, is_empty, make_image_tree, make_tree, q, sh, sha256sum, snapshot, TestDir, Times,
};

/// Tars `base`'s `metadata.yaml`, `templates` and `rootfs` with GNU tar, keeping xattrs and
/// numeric owners, into `out` (uncompressed).
fn gnu_tar_unified(base: &Path, out: &Path) -> Result<()> {
    sh(&format!(
        "tar --xattrs --xattrs-include='*' --numeric-owner -C {} -cf {} metadata.yaml templates rootfs",
        q(base),
        q(out)
    ))?;
    Ok(())
}

pub fn fingerprint_matches_sha256sum() -> Result<()> {
    let t = TestDir::new("fp");
    let unified = t.join("busybox-unified");
    let built = busybox::build_image(&unified)?;
    let fp = image::fingerprint(&ImageFiles::Unified(unified.clone()))?;
    let expected = sha256sum(&[&unified])?;
    ensure!(
        fp.len() == 64
            && fp
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    ensure!(fp == expected, "unified: {fp} != sha256sum {expected}");
    ensure!(
        built.fingerprint == expected,
        "build_image reported {}",
        built.fingerprint
    );

    let (meta, rootfs) = (t.join("meta"), t.join("rootfs"));
    let split =
        busybox::build_split_image(&meta, &rootfs, RootfsFormat::Tarball(Compression::Gzip))?;
    let fp = image::fingerprint(&split.files())?;
    let expected = sha256sum(&[&meta, &rootfs])?;
    ensure!(
        fp == expected,
        "split: {fp} != sha256sum of cat meta rootfs {expected}"
    );
    ensure!(split.fingerprint == expected);
    // Not the hash of either file alone, nor of the other order.
    ensure!(fp != sha256sum(&[&meta])? && fp != sha256sum(&[&rootfs, &meta])?);
    Ok(())
}

pub fn every_compression_unpacks_to_the_same_tree() -> Result<()> {
    let t = TestDir::new("compress");
    let base = t.join("base");
    make_image_tree(&base)?;
    let plain = t.join("image-plain");
    gnu_tar_unified(&base, &plain)?;
    let expected = snapshot(&base, Times::Nanos)?;
    // Names without extensions: detection must come from the magic bytes.
    let p = q(&plain);
    let cases: Vec<(&str, String, Compression)> = vec![
        ("plain", String::new(), Compression::None),
        (
            "xz",
            format!("xz -T1 -c {p} > {}", q(&t.join("image-1"))),
            Compression::Xz,
        ),
        (
            "gzip",
            format!("gzip -c {p} > {}", q(&t.join("image-2"))),
            Compression::Gzip,
        ),
        (
            "bzip2",
            format!("bzip2 -c {p} > {}", q(&t.join("image-3"))),
            Compression::Bzip2,
        ),
        (
            "zstd",
            format!("zstd -q -c {p} > {}", q(&t.join("image-4"))),
            Compression::Zstd,
        ),
        (
            "lzma",
            format!("lzma -c {p} > {}", q(&t.join("image-5"))),
            Compression::Lzma,
        ),
    ];
    let mut stats = Vec::new();
    for (i, (name, script, compression)) in cases.into_iter().enumerate() {
        let file: PathBuf = if script.is_empty() {
            plain.clone()
        } else {
            sh(&script)?;
            t.join(&format!("image-{i}"))
        };
        let got = image::detect_compression(&file)?;
        ensure!(got == compression, "{name}: detected {got:?}");
        ensure!(image::detect_format(&file)? == FileFormat::Tarball(compression));
        let dest = t.mkdir(&format!("dest-{name}"));
        let s = image::unpack(&ImageFiles::Unified(file), &dest, &UnpackOptions::default())
            .with_context(|| format!("unpack {name}"))?;
        assert_same(name, &expected, &snapshot(&dest, Times::Nanos)?)?;
        stats.push(s);
    }
    ensure!(
        stats.windows(2).all(|w| w[0] == w[1]),
        "stats differ: {stats:?}"
    );
    ensure!(stats[0].skipped_devices == 0 && stats[0].files >= 8 && stats[0].bytes > 5 << 20);

    // Without devices (as LXD in a user namespace): nodes left out, everything else there.
    let dest = t.mkdir("dest-nodev");
    let s = image::unpack(
        &ImageFiles::Unified(plain),
        &dest,
        &UnpackOptions {
            allow_devices: false,
        },
    )?;
    ensure!(s.skipped_devices == 2, "{s:?}");
    let mut without = expected.clone();
    without.remove("rootfs/dev/null");
    without.remove("rootfs/dev/loop-test");
    let got = snapshot(&dest, Times::Nanos)?;
    // The directory holding the skipped nodes is the same apart from them.
    assert_same("no devices", &without, &got)?;
    Ok(())
}

pub fn split_tarball_and_squashfs_rootfs() -> Result<()> {
    let t = TestDir::new("split");
    let base = t.join("base");
    make_image_tree(&base)?;
    let meta = t.join("meta.tar.xz");
    sh(&format!(
        "tar --numeric-owner -C {b} -cJf {m} metadata.yaml templates",
        b = q(&base),
        m = q(&meta)
    ))?;
    let rootfs_tar = t.join("rootfs-tarball");
    sh(&format!(
        "tar --xattrs --xattrs-include='*' --numeric-owner -C {}/rootfs -cf - . | gzip > {}",
        q(&base),
        q(&rootfs_tar)
    ))?;
    let squash = t.join("rootfs-squash");
    sh(&format!(
        "mksquashfs {}/rootfs {} -noappend -no-progress -quiet",
        q(&base),
        q(&squash)
    ))?;
    ensure!(image::detect_format(&squash)? == FileFormat::Squashfs);

    let expected = snapshot(&base, Times::Nanos)?;
    let dest = t.mkdir("dest-tar");
    let files = ImageFiles::Split {
        metadata: meta.clone(),
        rootfs: rootfs_tar,
    };
    image::unpack(&files, &dest, &UnpackOptions::default())?;
    let mut got = snapshot(&dest, Times::Nanos)?;
    // The `./` entry of the rootfs tarball gives rootfs/ its owner, mode and time.
    ensure!(
        got.remove("rootfs") == expected.get("rootfs").cloned(),
        "rootfs dir"
    );
    let mut exp = expected.clone();
    exp.remove("rootfs");
    assert_same("split tarball", &exp, &got)?;

    let dest = t.mkdir("dest-squash");
    let files = ImageFiles::Split {
        metadata: meta.clone(),
        rootfs: squash.clone(),
    };
    let s = image::unpack(&files, &dest, &UnpackOptions::default())?;
    ensure!(s.files >= 8, "{s:?}");
    let exp = snapshot(&base.join("rootfs"), Times::Seconds)?;
    let got = snapshot(&dest.join("rootfs"), Times::Seconds)?;
    assert_same("split squashfs", &exp, &got)?;
    ensure!(
        std::fs::read(dest.join("metadata.yaml"))? == std::fs::read(base.join("metadata.yaml"))?
    );

    // A squashfs rootfs without devices: nodes removed and counted.
    let dest = t.mkdir("dest-squash-nodev");
    let s = image::unpack(
        &files,
        &dest,
        &UnpackOptions {
            allow_devices: false,
        },
    )?;
    ensure!(s.skipped_devices == 2, "{s:?}");
    ensure!(dest.join("rootfs/dev/fifo").symlink_metadata().is_ok());
    ensure!(dest.join("rootfs/dev/null").symlink_metadata().is_err());

    // The builder's squashfs split image.
    let (m2, r2) = (t.join("bb-meta"), t.join("bb-rootfs.squashfs"));
    let b = busybox::build_split_image(&m2, &r2, RootfsFormat::Squashfs)?;
    ensure!(image::detect_format(&r2)? == FileFormat::Squashfs);
    ensure!(b.fingerprint == sha256sum(&[&m2, &r2])?);
    let dest = t.mkdir("dest-bb");
    image::unpack(&b.files(), &dest, &UnpackOptions::default())?;
    ensure!(dest.join("rootfs/bin/busybox").is_file());
    ensure!(std::fs::read_link(dest.join("rootfs/sbin/init"))? == Path::new("/bin/busybox"));
    ensure!(dest.join("templates/hostname.tpl").is_file());
    Ok(())
}

pub fn builder_round_trip_keeps_everything() -> Result<()> {
    let t = TestDir::new("build");
    let rootfs = t.join("tree");
    make_tree(&rootfs)?;
    let meta = image::ImageMetadata::parse(
        crate::fixture::METADATA_YAML.as_bytes(),
        Path::new("fixture"),
    )?;
    let templates = [(
        "hostname.tpl".to_string(),
        "{{ container.name }}\n".to_string(),
    )]
    .into();
    let src = image::ImageSource {
        rootfs: &rootfs,
        metadata: &meta,
        templates: &templates,
    };
    let expected = snapshot(&rootfs, Times::Nanos)?;
    for (name, c) in [
        ("xz", Compression::Xz),
        ("gz", Compression::Gzip),
        ("bz2", Compression::Bzip2),
        ("tar", Compression::None),
    ] {
        let out = t.join(&format!("unified.{name}"));
        let b = image::build_unified(&src, &out, c)?;
        ensure!(image::detect_compression(&out)? == c);
        ensure!(b.fingerprint == sha256sum(&[&out])?);
        let dest = t.mkdir(&format!("dest-{name}"));
        image::unpack(&b.files(), &dest, &UnpackOptions::default())?;
        // Times of the tree's own files are kept to the second by the builder's headers.
        assert_same(
            name,
            &secs(&expected),
            &secs(&snapshot(&dest.join("rootfs"), Times::Nanos)?),
        )?;
        ensure!(image::read_metadata(&b.files())? == meta);
        // GNU tar reads the builder's tarball and sees the xattrs and owners.
        let listing = sh(&format!(
            "tar --numeric-owner -tvf {} rootfs/etc/hostname",
            q(&out)
        ))?;
        ensure!(listing.contains("1000123/1000456"), "{listing}");
    }
    let (m, r) = (t.join("split.meta"), t.join("split.rootfs"));
    let b = image::build_split(
        &src,
        &m,
        &r,
        Compression::Gzip,
        RootfsFormat::Tarball(Compression::Xz),
    )?;
    let dest = t.mkdir("dest-split");
    image::unpack(&b.files(), &dest, &UnpackOptions::default())?;
    assert_same(
        "split",
        &secs(&expected),
        &secs(&snapshot(&dest.join("rootfs"), Times::Nanos)?),
    )?;
    // A failed build leaves nothing: a rule naming a missing template file.
    let mut bad = meta.clone();
    bad.templates.get_mut("/etc/hostname").unwrap().template = "missing.tpl".into();
    let src = image::ImageSource {
        metadata: &bad,
        ..src
    };
    let out = t.join("bad");
    match image::build_unified(&src, &out, Compression::Xz) {
        Err(ImageError::Template { template, .. }) if template == "missing.tpl" => {}
        other => bail!("expected a template error, got {other:?}"),
    }
    let left: Vec<_> = std::fs::read_dir(&t.path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("bad"))
        .collect();
    ensure!(left.is_empty(), "left behind: {left:?}");
    Ok(())
}

/// Drops the nanoseconds of every `mtime=` (the builder writes ustar/GNU seconds).
fn secs(
    s: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    s.iter()
        .map(|(k, v)| {
            let v = v
                .split(' ')
                .map(|w| match w.strip_prefix("mtime=") {
                    Some(t) => format!("mtime={}", t.split('.').next().unwrap_or(t)),
                    None => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            (k.clone(), v)
        })
        .collect()
}

pub fn metadata_read_without_unpacking() -> Result<()> {
    let t = TestDir::new("meta");
    let out = t.join("busybox.tar.xz");
    busybox::build_image(&out)?;
    let m = image::read_metadata(&ImageFiles::Unified(out.clone()))?;
    ensure!(
        m.architecture == "x86_64" || std::env::consts::ARCH != "x86_64",
        "{}",
        m.architecture
    );
    ensure!(
        m.properties["os"] == "busybox" && m.creation_date > 1_600_000_000,
        "{m:?}"
    );
    ensure!(m.templates["/etc/hostname"].template == "hostname.tpl");
    ensure!(m.templates["/etc/hostname"].when == ["create", "copy"]);
    let yaml = sh(&format!("tar -xJOf {} metadata.yaml", q(&out)))?;
    ensure!(
        yaml.contains("architecture:") && yaml.contains("creation_date:"),
        "{yaml}"
    );

    // metadata.yaml first, then a rootfs whose compressed tail is cut off: the metadata reads,
    // the unpack fails and leaves nothing.
    let base = t.join("base");
    std::fs::create_dir_all(base.join("rootfs"))?;
    std::fs::write(base.join("metadata.yaml"), crate::fixture::METADATA_YAML)?;
    sh(&format!(
        "head -c 3000000 /dev/urandom > {}/rootfs/blob",
        q(&base)
    ))?;
    let cut = t.join("cut");
    sh(&format!(
        "tar -C {b} -cf - metadata.yaml rootfs | gzip -1 > {c}.full && head -c 1000000 {c}.full > {c} && rm {c}.full",
        b = q(&base),
        c = q(&cut)
    ))?;
    let m = image::read_metadata(&ImageFiles::Unified(cut.clone()))?;
    ensure!(m.properties["os"] == "testos");
    let dest = t.mkdir("dest-cut");
    match image::unpack(&ImageFiles::Unified(cut), &dest, &UnpackOptions::default()) {
        Err(ImageError::Invalid { .. }) => {}
        other => bail!("truncated image: expected Invalid, got {other:?}"),
    }
    ensure!(is_empty(&dest)?, "a failed unpack left files");

    // Garbage, an empty file, a compressed non-tarball, a tarball without metadata.yaml, a bad
    // metadata.yaml: all Invalid.
    let garbage = t.join("garbage");
    sh(&format!(
        "head -c 5000 /dev/urandom | tr '\\0-\\377' 'a-za-za-za-za-za-za-za-za-za-za-z' > {}",
        q(&garbage)
    ))?;
    let empty = t.join("empty");
    std::fs::write(&empty, b"")?;
    let gz = t.join("gz-text");
    sh(&format!("echo hello | gzip > {}", q(&gz)))?;
    let nometa = t.join("nometa");
    sh(&format!(
        "tar -C {b} -cf {n} rootfs",
        b = q(&base),
        n = q(&nometa)
    ))?;
    let badmeta = t.join("badmeta");
    sh(&format!(
        "mkdir {d} && printf 'architecture: vax\\ncreation_date: 1\\n' > {d}/metadata.yaml && tar -C {d} -cf {b} metadata.yaml",
        d = q(&t.join("bm")),
        b = q(&badmeta)
    ))?;
    for (name, f) in [
        ("garbage", &garbage),
        ("empty", &empty),
        ("gzip text", &gz),
        ("no metadata", &nometa),
        ("bad metadata", &badmeta),
    ] {
        match image::read_metadata(&ImageFiles::Unified(f.clone())) {
            Err(ImageError::Invalid { path, reason }) => {
                ensure!(path == *f, "{name}: error names {}", path.display());
                ensure!(!reason.is_empty());
            }
            other => bail!("{name}: expected Invalid, got {other:?}"),
        }
    }
    ensure!(matches!(
        image::detect_compression(&garbage),
        Err(ImageError::Invalid { .. })
    ));
    let dest = t.mkdir("dest-garbage");
    ensure!(matches!(
        image::unpack(
            &ImageFiles::Unified(garbage),
            &dest,
            &UnpackOptions::default()
        ),
        Err(ImageError::Invalid { .. })
    ));
    ensure!(is_empty(&dest)?);
    Ok(())
}

pub fn unpack_refuses_a_bad_destination() -> Result<()> {
    let t = TestDir::new("dest");
    let out = t.join("bb");
    busybox::build_image(&out)?;
    let dest = t.mkdir("full");
    std::fs::write(dest.join("keep"), "mine")?;
    match image::unpack(
        &ImageFiles::Unified(out.clone()),
        &dest,
        &UnpackOptions::default(),
    ) {
        Err(ImageError::Destination { path, reason }) => {
            ensure!(path == dest && reason.contains("not empty"), "{reason}");
        }
        other => bail!("expected Destination, got {other:?}"),
    }
    ensure!(std::fs::read_to_string(dest.join("keep"))? == "mine");
    ensure!(std::fs::read_dir(&dest)?.count() == 1);
    let missing = t.join("missing");
    ensure!(image::unpack(
        &ImageFiles::Unified(out),
        &missing,
        &UnpackOptions::default()
    )
    .is_err());
    ensure!(!missing.exists());
    Ok(())
}

pub fn debian_packs_a_tree() -> Result<()> {
    let t = TestDir::new("debpack");
    let rootfs = t.join("rootfs");
    make_tree(&rootfs)?;
    let out = t.join("debian.tar.xz");
    let b = debian::pack_rootfs(&rootfs, &out, "bookworm")?;
    ensure!(b.fingerprint == sha256sum(&[&out])?);
    let m = image::read_metadata(&b.files())?;
    ensure!(
        m.properties["os"] == "debian" && m.properties["release"] == "bookworm",
        "{m:?}"
    );
    ensure!(m.templates.contains_key("/etc/hosts") && m.templates.contains_key("/etc/hostname"));
    let dest = t.mkdir("dest");
    image::unpack(&b.files(), &dest, &UnpackOptions::default())?;
    assert_same(
        "debian pack",
        &secs(&snapshot(&rootfs, Times::Nanos)?),
        &secs(&snapshot(&dest.join("rootfs"), Times::Nanos)?),
    )?;
    let mirror = debian::apt_mirror("bookworm")?;
    ensure!(mirror.starts_with("http"), "{mirror}");
    Ok(())
}

/// Opt-in (`LXD_TEST_DEBIAN=1`): debootstrap from the machine's apt mirror (network, ~1 min).
pub fn debian_debootstrap() -> Result<()> {
    let t = TestDir::new("debootstrap");
    let out = t.join("debian.tar.xz");
    let b = debian::build_image(&out, "bookworm", None)?;
    let dest = t.mkdir("dest");
    let s = image::unpack(&b.files(), &dest, &UnpackOptions::default())?;
    ensure!(
        dest.join("rootfs/usr/bin/apt-get").is_file() && s.files > 1000,
        "{s:?}"
    );
    image::apply_templates(
        &dest,
        image::Trigger::Create,
        &image::TemplateContext::new("deb1"),
    )?;
    ensure!(std::fs::read_to_string(dest.join("rootfs/etc/hostname"))? == "deb1\n");
    let left: Vec<_> = std::fs::read_dir(&t.path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("debootstrap"))
        .collect();
    ensure!(left.is_empty(), "debootstrap target left: {left:?}");
    Ok(())
}
