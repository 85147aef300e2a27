//! How long unpacking takes: the busybox image, and a tree of a few thousand files, next to
//! GNU tar extracting the same file (printed; bounded generously so a slow machine does not
//! fail, but a pathological slowdown does).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lxd_core::image::{self, busybox, ImageFiles, UnpackOptions};

use crate::fixture::{q, sh, TestDir};

fn gnu_tar_time(file: &std::path::Path, dest: &std::path::Path) -> Result<Duration> {
    let start = Instant::now();
    sh(&format!(
        "tar --numeric-owner --xattrs --xattrs-include='*' -C {} -xf {}",
        q(dest),
        q(file)
    ))?;
    Ok(start.elapsed())
}

pub fn unpack_timings() -> Result<()> {
    let t = TestDir::new("perf");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };

    let bb = t.join("busybox.tar.xz");
    let start = Instant::now();
    busybox::build_image(&bb)?;
    let build = start.elapsed();
    let dest = t.mkdir("bb");
    let start = Instant::now();
    let s = image::unpack(
        &ImageFiles::Unified(bb.clone()),
        &dest,
        &UnpackOptions::default(),
    )?;
    let bb_time = start.elapsed();
    let tar_bb = gnu_tar_time(&bb, &t.mkdir("bb-tar"))?;
    println!(
        "perf ({profile}): busybox image {} KiB built in {build:?}; unpacked {} entries / {} KiB in {bb_time:?} (GNU tar: {tar_bb:?})",
        std::fs::metadata(&bb)?.len() / 1024,
        s.entries,
        s.bytes / 1024
    );
    ensure!(s.entries > 250 && dest.join("rootfs/bin/busybox").is_file());

    // 4000 files of 1-8 KiB in 40 directories, plus 400 symlinks, xz-compressed.
    let base = t.mkdir("many");
    sh(&format!(
        r#"cd {b}; mkdir rootfs; printf 'architecture: x86_64\ncreation_date: 1700000000\n' > metadata.yaml
for d in $(seq 1 40); do mkdir rootfs/d$d; for f in $(seq 1 100); do head -c $(( (f % 8 + 1) * 1024 )) /dev/urandom > rootfs/d$d/f$f; done; for l in $(seq 1 10); do ln -s f$l rootfs/d$d/l$l; done; done
tar -C {b} -cf - metadata.yaml rootfs | xz -T1 -1 > ../many.tar.xz"#,
        b = q(&base)
    ))?;
    let many = t.join("many.tar.xz");
    let dest = t.mkdir("many-dest");
    let start = Instant::now();
    let s = image::unpack(
        &ImageFiles::Unified(many.clone()),
        &dest,
        &UnpackOptions::default(),
    )?;
    let many_time = start.elapsed();
    let tar_many = gnu_tar_time(&many, &t.mkdir("many-tar"))?;
    println!(
        "perf ({profile}): tree of {} files / {} entries / {} KiB (xz) unpacked in {many_time:?} (GNU tar: {tar_many:?})",
        s.files,
        s.entries,
        s.bytes / 1024
    );
    ensure!(s.files == 4001 && s.entries == 4000 + 400 + 41 + 1, "{s:?}");
    ensure!(
        many_time < Duration::from_secs(60),
        "unpacking took {many_time:?}"
    );
    Ok(())
}
