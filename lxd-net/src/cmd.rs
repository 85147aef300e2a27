//! Running the system tools lxd-net drives (`nft`, `tc`): the program is started from the
//! calling thread, so it works in that thread's network namespace, and a failure reports the
//! command line and what it printed.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::{NetError, Result};

/// Runs `program args...`, feeding `stdin` when given; returns its stdout.
pub async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let line = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| NetError::Spawn {
        cmd: program.to_string(),
        source,
    })?;
    if let Some(input) = stdin {
        if let Some(mut w) = child.stdin.take() {
            w.write_all(input.as_bytes())
                .await
                .map_err(|source| NetError::Spawn {
                    cmd: line.clone(),
                    source,
                })?;
        }
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| NetError::Spawn {
            cmd: line.clone(),
            source,
        })?;
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Some(input) = stdin {
            stderr.push_str(&format!("\ninput was:\n{input}"));
        }
        return Err(NetError::Command {
            cmd: line,
            status: out.status,
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
