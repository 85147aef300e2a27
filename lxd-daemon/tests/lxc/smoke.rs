//! The basic path: info, launch, list, exec, stop, delete.

use crate::check;
use crate::fixture::Daemon;
use crate::TestResult;

pub fn info_launch_list_exec_stop_delete() -> TestResult {
    let d = Daemon::start("smoke");
    let info = d.ok(&["info"]);
    check!(info.contains("server_version: 5.0.2"), "lxc info: {info}");
    d.ok(&["launch", "busybox", "c1"]);
    let list = d.ok(&["list", "-f", "csv", "-c", "ns"]);
    check!(list.trim() == "c1,RUNNING", "lxc list: {list:?}");
    let out = d.lxc(&["exec", "c1", "--", "hostname"]);
    check!(
        out.code == 0 && out.stdout.trim() == "c1",
        "exec hostname: {out:?}"
    );
    d.ok(&["stop", "-f", "c1"]);
    let list = d.ok(&["list", "-f", "csv", "-c", "ns"]);
    check!(list.trim() == "c1,STOPPED", "lxc list: {list:?}");
    d.ok(&["delete", "c1"]);
    let list = d.ok(&["list", "-f", "csv", "-c", "n"]);
    check!(list.trim().is_empty(), "lxc list after delete: {list:?}");
    Ok(())
}
