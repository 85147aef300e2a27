//! The `#[repr(C)]` ioctl structures and request numbers against the kernel's own headers:
//! a C program built with the system compiler prints `sizeof`, `offsetof` and the `_IO*`
//! values from `linux/btrfs.h` and `linux/loop.h`, and the Rust side must match.

mod common;

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};

use anyhow::{Context, Result};
use common::{q, require_tools, sh, TestDir};
use lxd_storage::btrfs::ioctl::{self as b, request as r};
use lxd_storage::loopdev as l;

const C_PROGRAM: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <linux/fs.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#define P(name, v) printf("%s %lu\n", name, (unsigned long)(v))
int main(void) {
    P("sizeof vol_args", sizeof(struct btrfs_ioctl_vol_args));
    P("sizeof vol_args_v2", sizeof(struct btrfs_ioctl_vol_args_v2));
    P("offsetof vol_args_v2.flags", offsetof(struct btrfs_ioctl_vol_args_v2, flags));
    P("offsetof vol_args_v2.name", offsetof(struct btrfs_ioctl_vol_args_v2, name));
    P("sizeof ino_lookup_args", sizeof(struct btrfs_ioctl_ino_lookup_args));
    P("sizeof search_key", sizeof(struct btrfs_ioctl_search_key));
    P("offsetof search_key.nr_items", offsetof(struct btrfs_ioctl_search_key, nr_items));
    P("sizeof search_args", sizeof(struct btrfs_ioctl_search_args));
    P("sizeof search_header", sizeof(struct btrfs_ioctl_search_header));
    P("sizeof quota_ctl_args", sizeof(struct btrfs_ioctl_quota_ctl_args));
    P("sizeof qgroup_limit_args", sizeof(struct btrfs_ioctl_qgroup_limit_args));
    P("sizeof quota_rescan_args", sizeof(struct btrfs_ioctl_quota_rescan_args));
    P("sizeof fs_info_args", sizeof(struct btrfs_ioctl_fs_info_args));
    P("offsetof fs_info_args.flags", offsetof(struct btrfs_ioctl_fs_info_args, flags));
    P("sizeof loop_info64", sizeof(struct loop_info64));
    P("offsetof loop_info64.lo_flags", offsetof(struct loop_info64, lo_flags));
    P("sizeof loop_config", sizeof(struct loop_config));
    P("offsetof loop_config.info", offsetof(struct loop_config, info));
    P("SYNC", BTRFS_IOC_SYNC);
    P("SUBVOL_CREATE", BTRFS_IOC_SUBVOL_CREATE);
    P("SNAP_DESTROY", BTRFS_IOC_SNAP_DESTROY);
    P("TREE_SEARCH", BTRFS_IOC_TREE_SEARCH);
    P("INO_LOOKUP", BTRFS_IOC_INO_LOOKUP);
    P("SNAP_CREATE_V2", BTRFS_IOC_SNAP_CREATE_V2);
    P("SUBVOL_GETFLAGS", BTRFS_IOC_SUBVOL_GETFLAGS);
    P("SUBVOL_SETFLAGS", BTRFS_IOC_SUBVOL_SETFLAGS);
    P("FS_INFO", BTRFS_IOC_FS_INFO);
    P("QUOTA_CTL", BTRFS_IOC_QUOTA_CTL);
    P("QGROUP_LIMIT", BTRFS_IOC_QGROUP_LIMIT);
    P("QUOTA_RESCAN", BTRFS_IOC_QUOTA_RESCAN);
    P("QUOTA_RESCAN_WAIT", BTRFS_IOC_QUOTA_RESCAN_WAIT);
    P("SNAP_DESTROY_V2", BTRFS_IOC_SNAP_DESTROY_V2);
    P("FICLONE", FICLONE);
    P("LOOP_SET_FD", LOOP_SET_FD);
    P("LOOP_CLR_FD", LOOP_CLR_FD);
    P("LOOP_SET_STATUS64", LOOP_SET_STATUS64);
    P("LOOP_GET_STATUS64", LOOP_GET_STATUS64);
    P("LOOP_SET_CAPACITY", LOOP_SET_CAPACITY);
    P("LOOP_CONFIGURE", LOOP_CONFIGURE);
    P("LOOP_CTL_GET_FREE", LOOP_CTL_GET_FREE);
    P("LO_FLAGS_AUTOCLEAR", LO_FLAGS_AUTOCLEAR);
    P("LO_FLAGS_READ_ONLY", LO_FLAGS_READ_ONLY);
    P("BTRFS_SUBVOL_RDONLY", BTRFS_SUBVOL_RDONLY);
    P("BTRFS_QGROUP_LIMIT_MAX_RFER", BTRFS_QGROUP_LIMIT_MAX_RFER);
    P("BTRFS_FIRST_FREE_OBJECTID", 256);
    return 0;
}
"#;

/// A request number as u64 (the C library's request type is not u64 everywhere).
#[allow(clippy::unnecessary_cast)]
fn req(v: libc::Ioctl) -> u64 {
    v as u64
}

#[test]
fn structures_and_requests_match_the_kernel_headers() -> Result<()> {
    require_tools(&["cc"])?;
    let t = TestDir::new("abi")?;
    let src = t.join("abi.c");
    let bin = t.join("abi");
    std::fs::write(&src, C_PROGRAM)?;
    sh(&format!("cc -o {} {}", q(&bin), q(&src)))
        .context("compile against linux/btrfs.h (needs linux-libc-dev)")?;
    let out = sh(&q(&bin))?;
    let c: BTreeMap<String, u64> = out
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("name value");
            (k.to_string(), v.parse().expect("number"))
        })
        .collect();

    let rust: Vec<(&str, u64)> = vec![
        ("sizeof vol_args", size_of::<b::VolArgs>() as u64),
        ("sizeof vol_args_v2", size_of::<b::VolArgsV2>() as u64),
        (
            "offsetof vol_args_v2.flags",
            offset_of!(b::VolArgsV2, flags) as u64,
        ),
        (
            "offsetof vol_args_v2.name",
            offset_of!(b::VolArgsV2, name) as u64,
        ),
        (
            "sizeof ino_lookup_args",
            size_of::<b::InoLookupArgs>() as u64,
        ),
        ("sizeof search_key", size_of::<b::SearchKey>() as u64),
        (
            "offsetof search_key.nr_items",
            offset_of!(b::SearchKey, nr_items) as u64,
        ),
        ("sizeof search_args", size_of::<b::SearchArgs>() as u64),
        ("sizeof search_header", size_of::<b::SearchHeader>() as u64),
        ("sizeof quota_ctl_args", size_of::<b::QuotaCtlArgs>() as u64),
        (
            "sizeof qgroup_limit_args",
            size_of::<b::QgroupLimitArgs>() as u64,
        ),
        (
            "sizeof quota_rescan_args",
            size_of::<b::QuotaRescanArgs>() as u64,
        ),
        ("sizeof fs_info_args", size_of::<b::FsInfoArgs>() as u64),
        (
            "offsetof fs_info_args.flags",
            offset_of!(b::FsInfoArgs, flags) as u64,
        ),
        ("sizeof loop_info64", size_of::<l::LoopInfo64>() as u64),
        (
            "offsetof loop_info64.lo_flags",
            offset_of!(l::LoopInfo64, lo_flags) as u64,
        ),
        ("sizeof loop_config", size_of::<l::LoopConfig>() as u64),
        (
            "offsetof loop_config.info",
            offset_of!(l::LoopConfig, info) as u64,
        ),
        ("SYNC", req(r::SYNC)),
        ("SUBVOL_CREATE", req(r::SUBVOL_CREATE)),
        ("SNAP_DESTROY", req(r::SNAP_DESTROY)),
        ("TREE_SEARCH", req(r::TREE_SEARCH)),
        ("INO_LOOKUP", req(r::INO_LOOKUP)),
        ("SNAP_CREATE_V2", req(r::SNAP_CREATE_V2)),
        ("SUBVOL_GETFLAGS", req(r::SUBVOL_GETFLAGS)),
        ("SUBVOL_SETFLAGS", req(r::SUBVOL_SETFLAGS)),
        ("FS_INFO", req(r::FS_INFO)),
        ("QUOTA_CTL", req(r::QUOTA_CTL)),
        ("QGROUP_LIMIT", req(r::QGROUP_LIMIT)),
        ("QUOTA_RESCAN", req(r::QUOTA_RESCAN)),
        ("QUOTA_RESCAN_WAIT", req(r::QUOTA_RESCAN_WAIT)),
        ("SNAP_DESTROY_V2", req(r::SNAP_DESTROY_V2)),
        ("FICLONE", req(libc::FICLONE)),
        ("LOOP_SET_FD", req(l::LOOP_SET_FD)),
        ("LOOP_CLR_FD", req(l::LOOP_CLR_FD)),
        ("LOOP_SET_STATUS64", req(l::LOOP_SET_STATUS64)),
        ("LOOP_GET_STATUS64", req(l::LOOP_GET_STATUS64)),
        ("LOOP_SET_CAPACITY", req(l::LOOP_SET_CAPACITY)),
        ("LOOP_CONFIGURE", req(l::LOOP_CONFIGURE)),
        ("LOOP_CTL_GET_FREE", req(l::LOOP_CTL_GET_FREE)),
        ("LO_FLAGS_AUTOCLEAR", u64::from(l::LO_FLAGS_AUTOCLEAR)),
        ("LO_FLAGS_READ_ONLY", u64::from(l::LO_FLAGS_READ_ONLY)),
        ("BTRFS_SUBVOL_RDONLY", b::SUBVOL_RDONLY),
        ("BTRFS_QGROUP_LIMIT_MAX_RFER", b::QGROUP_LIMIT_MAX_RFER),
        ("BTRFS_FIRST_FREE_OBJECTID", b::FIRST_FREE_OBJECTID),
    ];
    assert_eq!(rust.len(), c.len(), "every C value has a Rust counterpart");
    for (name, value) in rust {
        let want = c
            .get(name)
            .with_context(|| format!("{name} not printed by C"))?;
        assert_eq!(value, *want, "{name}: Rust {value:#x}, C {want:#x}");
    }
    Ok(())
}
