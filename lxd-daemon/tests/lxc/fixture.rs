//! A daemon of this project on a private data directory with a dir pool and the busybox image
//! imported as `busybox`, driven by Debian's unmodified `lxc` 5.0.2 client. Everything is torn
//! down (instances, images, pools, the daemon) when the test ends, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The busybox image tarball, built once per test process.
pub fn busybox_image() -> &'static PathBuf {
    static IMG: OnceLock<PathBuf> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = PathBuf::from(format!("/tmp/lxd-dt-{}-busybox.tar.xz", std::process::id()));
        lxd_core::image::busybox::build_image(&p).expect("build the busybox image");
        p
    })
}

/// Removes the shared image at the end of the run.
pub fn remove_busybox_image() {
    let _ = std::fs::remove_file(format!("/tmp/lxd-dt-{}-busybox.tar.xz", std::process::id()));
}

/// A running daemon.
pub struct Daemon {
    /// `LXD_DIR`.
    pub dir: PathBuf,
    child: Option<Child>,
}

/// The output of a command, with helpers.
pub struct Out {
    /// Exit code.
    pub code: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn lxd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lxd")
}

impl Daemon {
    /// Starts a daemon, initialises it with a `dir` pool (and more `pools` given as
    /// `name=driver[:key=value,...]`), and imports the busybox image as `busybox`.
    pub fn start(tag: &str) -> Daemon {
        let d = Self::start_bare(tag);
        let preseed = "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n";
        let out = d.lxd_stdin(&["init", "--preseed"], preseed);
        assert_eq!(out.code, 0, "lxd init --preseed: {out:?}");
        let img = d.dir.join("busybox.tar.xz");
        std::fs::copy(busybox_image(), &img).unwrap();
        let out = d.lxc(&[
            "image",
            "import",
            img.to_str().unwrap(),
            "--alias",
            "busybox",
        ]);
        assert_eq!(out.code, 0, "lxc image import: {out:?}");
        d
    }

    /// Starts a daemon on an empty data directory, without initialising it.
    pub fn start_bare(tag: &str) -> Daemon {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/lxd-dt-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("client")).unwrap();
        let mut d = Daemon { dir, child: None };
        d.spawn();
        d
    }

    /// Starts the daemon process and waits until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .unwrap();
        let child = Command::new(lxd_bin())
            .env("LXD_DIR", &self.dir)
            .args(["--group", "root", "--debug", "--logfile"])
            .arg(self.dir.join("lxd.log"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn lxd");
        self.child = Some(child);
        let out = self.lxd(&["waitready", "--timeout", "20"]);
        assert_eq!(out.code, 0, "lxd waitready: {out:?}\nlog: {}", self.log());
    }

    /// The daemon's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("lxd.log")).unwrap_or_default()
            + &std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Whether the daemon process has exited.
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) => {
                self.child = None;
                true
            }
            None => true,
            _ => false,
        }
    }

    /// Kills the daemon (SIGKILL) without any cleanup, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the daemon with SIGTERM and waits for it.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn cmd(&self, bin: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.env("LXD_DIR", &self.dir)
            .env("LXD_CONF", self.dir.join("client"))
            .env_remove("LXD_SOCKET")
            .args(args);
        c
    }

    /// Runs `lxc` (Debian's client) against this daemon.
    pub fn lxc(&self, args: &[&str]) -> Out {
        self.cmd("lxc", args)
            .stdin(Stdio::null())
            .output()
            .expect("run lxc")
            .into()
    }

    /// Runs `lxc` with stdin.
    pub fn lxc_stdin(&self, args: &[&str], input: &str) -> Out {
        run_with_stdin(self.cmd("lxc", args), input)
    }

    /// Runs this project's `lxd` subcommand.
    pub fn lxd(&self, args: &[&str]) -> Out {
        self.cmd(lxd_bin(), args)
            .stdin(Stdio::null())
            .output()
            .expect("run lxd")
            .into()
    }

    /// Runs this project's `lxd` subcommand with stdin.
    pub fn lxd_stdin(&self, args: &[&str], input: &str) -> Out {
        run_with_stdin(self.cmd(lxd_bin(), args), input)
    }

    /// Runs `lxc` and requires success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.lxc(args);
        assert_eq!(
            out.code,
            0,
            "lxc {args:?}: {out:?}\nlog tail: {}",
            tail(&self.log())
        );
        out.stdout
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("unix.socket")
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn run_with_stdin(mut c: Command, input: &str) -> Out {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    let _ = w.join();
    out.into()
}

/// Removes what is mounted below `dir`.
fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut under: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(dir.to_str().unwrap()))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        let _ = Command::new("umount").arg("-l").arg(&m).status();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && self.socket().exists() {
            // A test stopped the daemon; bring it back to clean up through it.
            self.spawn();
        }
        if self.child.is_some() {
            let list = self.lxc(&["list", "-c", "n", "-f", "csv"]);
            for name in list.stdout.lines().filter(|l| !l.is_empty()) {
                let _ = self.lxc(&["delete", "-f", name]);
            }
            let imgs = self.lxc(&["image", "list", "-c", "f", "-f", "csv"]);
            for fp in imgs.stdout.lines().filter(|l| !l.is_empty()) {
                let _ = self.lxc(&["image", "delete", fp]);
            }
            let _ = self.lxc_stdin(
                &["profile", "edit", "default"],
                "config: {}\ndescription: Default LXD profile\ndevices: {}\n",
            );
            let pools = self.lxc(&["storage", "list", "-f", "csv"]);
            for p in pools
                .stdout
                .lines()
                .filter_map(|l| l.split(',').next())
                .filter(|l| !l.is_empty())
            {
                let _ = self.lxc(&["storage", "delete", p]);
            }
            self.terminate();
        }
        unmount_below(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
