//! Timings of `copy_tree` and `remove_tree` next to `cp -a` and `rm -rf`, on ext4 (the root
//! fs) and on xfs with reflink, for the fixture (a few thousand small files) and a ~200 MB
//! tree made from parts of `/usr`. A benchmark, so not part of the normal run:
//! `cargo test -p lxd-storage --release --test copy_timing -- --ignored --nocapture`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use common::{make_fixture, q, sh, LoopFs, TestDir};
use lxd_storage::{copy_tree, remove_tree, CopyOptions};

/// Parts of `/usr` that together make a tree like a small Debian root filesystem.
const USR_PARTS: &[&str] = &[
    "/usr/share/doc",
    "/usr/lib/python3",
    "/usr/share/zoneinfo",
    "/usr/share/i18n",
    "/usr/sbin",
    "/usr/share/perl",
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Times `copy_tree` + `remove_tree` and `cp -a` + `rm -rf` of `src` into `base`, `runs` times.
fn time_tree(label: &str, src: &Path, base: &Path, runs: usize) -> Result<()> {
    let (mut copy, mut remove, mut cp, mut rm) = (vec![], vec![], vec![], vec![]);
    let mut stats = None;
    for i in 0..runs {
        let dst = base.join(format!("copy{i}"));
        let t = Instant::now();
        stats = Some(copy_tree(src, &dst, &CopyOptions::default())?);
        copy.push(t.elapsed());
        let t = Instant::now();
        remove_tree(&dst)?;
        remove.push(t.elapsed());

        let dst = base.join(format!("cp{i}"));
        let t = Instant::now();
        sh(&format!("cp -a {} {}", q(src), q(&dst)))?;
        cp.push(t.elapsed());
        let t = Instant::now();
        sh(&format!("rm -rf {}", q(&dst)))?;
        rm.push(t.elapsed());
    }
    let s = stats.expect("at least one run");
    eprintln!(
        "| {label} | {} files, {} dirs, {} MB | {} | {} | {} | {} | {} |",
        s.files,
        s.dirs,
        s.bytes / 1_000_000,
        ms(median(copy)),
        ms(median(cp)),
        ms(median(remove)),
        ms(median(rm)),
        s.reflinked
    );
    Ok(())
}

fn make_usr_tree(dst: &Path) -> Result<()> {
    std::fs::create_dir(dst)?;
    for part in USR_PARTS {
        let name = part.trim_start_matches('/').replace('/', "_");
        sh(&format!("cp -a {part} {}", q(&dst.join(name))))?;
    }
    sh(&format!("du -sh --apparent-size {} >&2", q(dst)))?;
    Ok(())
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (see the module documentation)"]
fn copy_timings() -> Result<()> {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    eprintln!("profile: {profile}, threads: default");
    eprintln!("| tree | size | copy_tree | cp -a | remove_tree | rm -rf | reflinked |");
    eprintln!("|---|---|---|---|---|---|---|");

    let t = TestDir::new("timing-ext4")?;
    let fixture = t.join("fixture");
    make_fixture(&fixture, 3000)?;
    time_tree("fixture, ext4", &fixture, &t.path, 5)?;
    let usr = t.join("usr");
    make_usr_tree(&usr)?;
    time_tree("/usr subset, ext4", &usr, &t.path, 3)?;
    drop(t);

    let fs = LoopFs::new("timing-xfs", "xfs", 4096)?;
    let fixture = fs.mnt.join("fixture");
    make_fixture(&fixture, 3000)?;
    time_tree("fixture, xfs reflink", &fixture, &fs.mnt, 5)?;
    let usr = fs.mnt.join("usr");
    make_usr_tree(&usr)?;
    time_tree("/usr subset, xfs reflink", &usr, &fs.mnt, 3)?;
    Ok(())
}
