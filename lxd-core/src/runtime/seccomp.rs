//! The seccomp filter every container process runs under: LXD's default deny list, applied to
//! the native and compat architectures, plus the instance's `security.syscalls.*` settings.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};

use crate::config::InstanceConfig;
use crate::error::{Error, Result};

/// System calls LXD's default policy makes fail with `ENOSYS`.
pub const DEFAULT_DENY: &[&str] = &[
    "kexec_load",
    "open_by_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
];

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Seccomp(format!("{what}: {e}"))
}

/// Builds the filter for a container from its configuration:
/// - unless `security.syscalls.deny_default=false`: [`DEFAULT_DENY`] fail with `ENOSYS`, and
///   `umount2` with `MNT_FORCE` fails with `EACCES` (liblxc's `reject_force_umount`);
/// - `security.syscalls.deny_compat=true`: 32-bit system calls fail with `ENOSYS`;
/// - `security.syscalls.deny`: the listed calls fail with `EPERM`.
///
/// The filter does not set `no_new_privs` (setuid programs keep working in the container); it
/// is loaded while the process holds `CAP_SYS_ADMIN` in the container's user namespace.
pub fn build_filter(config: &InstanceConfig) -> Result<ScmpFilterContext> {
    let mut ctx = ScmpFilterContext::new_filter(ScmpAction::Allow).map_err(|e| err("new", e))?;
    ctx.set_ctl_nnp(false).map_err(|e| err("nnp", e))?;
    let native = ScmpArch::native();
    let deny_compat = config.get_bool("security.syscalls.deny_compat");
    if native == ScmpArch::X8664 {
        if deny_compat {
            ctx.set_filter_attr(
                ScmpFilterAttr::ActBadArch,
                libc::ENOSYS as u32 | 0x0005_0000,
            )
            .map_err(|e| err("bad arch action", e))?;
        } else {
            for arch in [ScmpArch::X86, ScmpArch::X32] {
                ctx.add_arch(arch).map_err(|e| err("add arch", e))?;
            }
        }
    }
    let deny_default = config
        .get("security.syscalls.deny_default")
        .is_none_or(|_| config.get_bool("security.syscalls.deny_default"));
    if deny_default {
        for name in DEFAULT_DENY {
            let sc = ScmpSyscall::from_name(name).map_err(|e| err(name, e))?;
            ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), sc)
                .map_err(|e| err(name, e))?;
        }
        let umount2 = ScmpSyscall::from_name("umount2").map_err(|e| err("umount2", e))?;
        let force = libc::MNT_FORCE as u64;
        ctx.add_rule_conditional(
            ScmpAction::Errno(libc::EACCES),
            umount2,
            &[ScmpArgCompare::new(
                1,
                ScmpCompareOp::MaskedEqual(force),
                force,
            )],
        )
        .map_err(|e| err("umount2", e))?;
    }
    if let Some(list) = config.get("security.syscalls.deny") {
        for name in list.split([',', ' ', '\n']).filter(|s| !s.is_empty()) {
            let sc = ScmpSyscall::from_name(name).map_err(|e| err(name, e))?;
            ctx.add_rule(ScmpAction::Errno(libc::EPERM), sc)
                .map_err(|e| err(name, e))?;
        }
    }
    Ok(ctx)
}
