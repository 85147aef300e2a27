//! Running the `zfs` and `zpool` commands: each call is logged, a failure becomes
//! [`StorageError::Command`] with the command line and its stderr, a dataset that zfs-fuse
//! briefly reports busy is retried, and `zfs send | zfs receive` runs as a pipeline.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};

/// How often an operation on a busy dataset is tried.
const BUSY_ATTEMPTS: u32 = 10;
/// The pause between those attempts.
const BUSY_PAUSE: Duration = Duration::from_millis(200);

/// Runs `zfs ARGS`; returns its stdout.
pub fn zfs(args: &[&str]) -> Result<String> {
    run("zfs", args)
}

/// Runs `zpool ARGS`; returns its stdout.
pub fn zpool(args: &[&str]) -> Result<String> {
    run("zpool", args)
}

fn command_error(cmd: &str, args: &[&str], out: &std::process::Output) -> StorageError {
    StorageError::Command {
        cmd: format!("{cmd} {}", args.join(" ")),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let mut c = Command::new(cmd);
    c.args(args);
    output(c, cmd, args)
}

/// Runs `zfs ARGS` in a mount namespace of its own in which no dataset is mounted, as LXD's
/// `forkzfs` does for renames: the command then sees no mounted clone to unmount and mount
/// again around the rename (zfs-fuse's does so for a dataset's clones, and a clone that fails
/// to mount again, which zfs-fuse often reports as busy, stays unmounted under a running
/// instance).
pub fn zfs_unmounted(args: &[&str]) -> Result<String> {
    use std::os::unix::process::CommandExt;
    let targets: Vec<std::ffi::CString> = super::mount::dataset_mounts()?
        .into_iter()
        .filter_map(|p| std::ffi::CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .collect();
    let mut c = Command::new("zfs");
    c.args(args);
    // SAFETY: the hook runs in the child between fork and exec and only makes system calls
    // (unshare, mount, umount2) on memory prepared before the fork; it allocates nothing.
    unsafe {
        c.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let root = c"/";
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            for t in &targets {
                libc::umount2(t.as_ptr(), libc::MNT_DETACH);
            }
            Ok(())
        });
    }
    output(c, "zfs", args)
}

fn output(mut c: Command, cmd: &str, args: &[&str]) -> Result<String> {
    let t = Instant::now();
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StorageError::io("run", cmd, e))?;
    tracing::debug!(
        cmd,
        ?args,
        ok = out.status.success(),
        ms = t.elapsed().as_secs_f64() * 1e3,
        "zfs command"
    );
    if !out.status.success() {
        return Err(command_error(cmd, args, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a failed command wrote to stderr ("" for other errors).
pub fn stderr_of(e: &StorageError) -> &str {
    match e {
        StorageError::Command { stderr, .. } => stderr,
        _ => "",
    }
}

/// Whether a command failed because a dataset or pool was busy.
pub fn is_busy(e: &StorageError) -> bool {
    stderr_of(e).contains("busy")
}

/// Whether a command failed because the dataset or pool does not exist.
pub fn is_missing(e: &StorageError) -> bool {
    let s = stderr_of(e);
    s.contains("does not exist") || s.contains("no such pool") || s.contains("no such dataset")
}

/// Runs `op` until it succeeds or fails for another reason than a busy dataset, calling
/// `settle` (an unmount) before each new attempt.
pub fn retry_busy<T>(mut op: impl FnMut() -> Result<T>, mut settle: impl FnMut()) -> Result<T> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(e) if is_busy(&e) && attempt < BUSY_ATTEMPTS => {
                tracing::debug!(attempt, "busy, retrying: {e}");
                settle();
                std::thread::sleep(BUSY_PAUSE * attempt);
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Runs `zfs send SEND | zfs receive RECEIVE`; fails if either side fails.
pub fn send_receive(send: &[&str], receive: &[&str]) -> Result<()> {
    let t = Instant::now();
    let send_line = || format!("zfs send {}", send.join(" "));
    let mut tx = Command::new("zfs")
        .arg("send")
        .args(send)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| StorageError::io("run", "zfs", e))?;
    let stream = tx.stdout.take().expect("piped stdout");
    let rx = Command::new("zfs")
        .arg("receive")
        .args(receive)
        .stdin(Stdio::from(stream))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let rx = match rx {
        Ok(rx) => rx,
        Err(e) => {
            let _ = tx.kill();
            let _ = tx.wait();
            return Err(StorageError::io("run", "zfs", e));
        }
    };
    let rx_out = rx
        .wait_with_output()
        .map_err(|e| StorageError::io("wait for", "zfs receive", e))?;
    let tx_out = tx
        .wait_with_output()
        .map_err(|e| StorageError::io("wait for", "zfs send", e))?;
    tracing::debug!(
        send = %send_line(),
        ?receive,
        ms = t.elapsed().as_secs_f64() * 1e3,
        "zfs send | zfs receive"
    );
    if !tx_out.status.success() {
        let mut args = vec!["send"];
        args.extend_from_slice(send);
        return Err(command_error("zfs", &args, &tx_out));
    }
    if !rx_out.status.success() {
        let mut args = vec!["receive"];
        args.extend_from_slice(receive);
        return Err(command_error("zfs", &args, &rx_out));
    }
    Ok(())
}
