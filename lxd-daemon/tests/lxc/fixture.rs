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

/// A network namespace of a test (`ip netns add`), with its loopback up; deleted on drop.
pub struct NetNs {
    /// Its name (`ip netns` and `/run/netns/NAME`).
    pub name: String,
}

impl NetNs {
    /// A new namespace; `tag` makes the name recognisable.
    pub fn new(tag: &str) -> NetNs {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("lxdt{}-{n}{tag}", std::process::id() % 100_000);
        let name: String = name.chars().take(30).collect();
        let ns = NetNs { name };
        let out = sh(&format!(
            "ip netns add {0} && ip -n {0} link set lo up",
            ns.name
        ));
        assert_eq!(out.code, 0, "ip netns add: {out:?}");
        ns
    }

    /// Runs a shell command line inside the namespace (`ip netns exec`).
    pub fn sh(&self, script: &str) -> Out {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
            .into()
    }

    /// The namespace file.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `f` on a thread that has joined the namespace (sockets it opens live there).
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let file = std::fs::File::open(self.path()).expect("open netns");
        std::thread::spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Processes still inside (a dnsmasq a failed test left) would keep it alive.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill(2) of a process inside this test's own namespace.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs a shell command line on the host.
pub fn sh(script: &str) -> Out {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("sh")
        .into()
}

/// A running daemon, in a network namespace of its own (so what it does to networks stays
/// there).
pub struct Daemon {
    /// `LXD_DIR`.
    pub dir: PathBuf,
    child: Option<Child>,
    /// The daemon's network namespace.
    pub netns: NetNs,
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
        Self::start_in(tag, NetNs::new(""))
    }

    /// [`Daemon::start`] in a given network namespace.
    pub fn start_in(tag: &str, netns: NetNs) -> Daemon {
        let d = Self::start_bare_in(tag, netns);
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
        Self::start_bare_in(tag, NetNs::new(""))
    }

    /// Starts a daemon in a given network namespace, without initialising it.
    pub fn start_bare_in(tag: &str, netns: NetNs) -> Daemon {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/lxd-dt-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("client")).unwrap();
        let mut d = Daemon {
            dir,
            child: None,
            netns,
        };
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
        let netns = std::fs::File::open(self.netns.path()).expect("open netns");
        let mut cmd = Command::new(lxd_bin());
        cmd.env("LXD_DIR", &self.dir)
            .args(["--group", "root", "--debug", "--logfile"])
            .arg(self.dir.join("lxd.log"))
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: setns(2) is async-signal-safe; the descriptor was opened before the fork.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().expect("spawn lxd");
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
            let nets = self.lxc(&["network", "list", "-f", "csv"]);
            for n in nets
                .stdout
                .lines()
                .map(|l| l.split(',').collect::<Vec<_>>())
                .filter(|f| f.get(2) == Some(&"YES"))
            {
                let _ = self.lxc(&["network", "delete", n[0]]);
            }
            let pools = self.lxc(&["storage", "list", "-f", "csv"]);
            for p in pools
                .stdout
                .lines()
                .filter_map(|l| l.split(',').next())
                .filter(|l| !l.is_empty())
            {
                // Custom volumes a test left would keep the pool.
                let vols = self.lxc(&["storage", "volume", "list", p, "-f", "csv"]);
                for v in vols
                    .stdout
                    .lines()
                    .filter_map(|l| l.strip_prefix("custom,"))
                    .filter_map(|l| l.split(',').next())
                {
                    let _ = self.lxc(&["storage", "volume", "delete", p, v]);
                }
                let _ = self.lxc(&["storage", "delete", p]);
            }
            self.terminate();
        }
        unmount_below(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
