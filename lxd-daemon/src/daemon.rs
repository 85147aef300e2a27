//! The daemon: opens the state store and the orchestration, serves the API on
//! `$LXD_DIR/unix.socket`, and stops on a signal (leaving containers running) or on
//! `lxd shutdown` (stopping them first).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use lxd_api::client::Client;
use lxd_api::server::{ApiState, ServerInfo};
use lxd_core::{Lxd, LxdConfig};
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::DaemonArgs;

fn setup_logging(args: &DaemonArgs) -> Result<()> {
    let level = if args.debug {
        "debug"
    } else if args.verbose {
        "info"
    } else {
        "warn"
    };
    // sqlx logs every statement at debug: keep it quiet unless asked for.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},sqlx=warn")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match &args.logfile {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open log file {path}"))?;
            builder
                .with_writer(std::sync::Mutex::new(f))
                .with_ansi(false)
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

fn group_id(name: &str) -> Result<u32> {
    let groups = std::fs::read_to_string("/etc/group").context("read /etc/group")?;
    groups
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then_some(())?;
            f.nth(1)?.parse().ok()
        })
        .with_context(|| format!("unknown group {name:?}"))
}

/// Binds the socket, refusing if another daemon answers on it.
fn bind(socket: &Path, group: Option<&str>) -> Result<UnixListener> {
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            bail!(
                "LXD is already running (socket {} answers)",
                socket.display()
            );
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("remove stale {}", socket.display()))?;
    }
    let listener =
        UnixListener::bind(socket).with_context(|| format!("bind {}", socket.display()))?;
    let gid = group.map(group_id).transpose()?;
    std::os::unix::fs::chown(socket, Some(0), Some(gid.unwrap_or(0)))
        .with_context(|| format!("chown {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "none".into())
}

/// Runs the daemon until a signal or `lxd shutdown`.
pub fn run(args: &DaemonArgs) -> Result<()> {
    setup_logging(args)?;
    let dir = crate::lxd_dir();
    // Few malloc arenas and short-lived blocking threads keep the daemon's memory small: every
    // thread would otherwise get an arena of its own. Freed memory goes back to the system
    // rather than staying in the heap: fixed mmap and trim thresholds (glibc otherwise raises
    // both after the first large block is freed, such as the 8 MiB dictionary of an xz image,
    // and from then on keeps that much and more in the heap: 12 MB of heap instead of 4 after
    // launching 20 containers from LXD's busybox image), no padding when the heap grows, and
    // no fast bins (their chunks are never merged with their neighbours).
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MXFAST, 0);
        libc::mallopt(libc::M_TOP_PAD, 0);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()?;
    rt.block_on(serve(dir, args.group.clone()))
}

async fn serve(dir: std::path::PathBuf, group: Option<String>) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
    let socket = dir.join("unix.socket");
    // Claim the socket first: a second daemon must not touch the state.
    let listener = bind(&socket, group.as_deref())?;
    let store = lxd_cluster::SqliteStore::open_dir(&dir)
        .await
        .context("open the database")?;
    let lxd = Lxd::open(
        LxdConfig::new(&dir),
        Arc::new(store),
        lxd_storage::drivers(),
    )
    .await
    .context("open LXD")?
    .with_networking(lxd_net::drivers(), lxd_net::nic_driver());
    lxd.recover()
        .await
        .context("recover from an interrupted run")?;
    // The recorded networks come up before any instance (autostart) needs them.
    lxd.start_networks().await.context("start networks")?;
    let info = ServerInfo {
        version: lxd_api::LXD_VERSION.into(),
        pid: std::process::id(),
        started: SystemTime::now(),
        hostname: hostname(),
        lxd_dir: dir.clone(),
    };
    let state = ApiState::new(Arc::new(lxd), info);
    {
        let st = state.clone();
        tokio::spawn(async move { lxd_api::autostart(&st).await });
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut pwr = signal(SignalKind::from_raw(libc::SIGPWR))?;
    let mut shutdown = state.shutdown.subscribe();
    tracing::info!(
        "LXD {} is ready on {} ({} ms)",
        lxd_api::LXD_VERSION,
        socket.display(),
        started.elapsed().as_millis()
    );
    let st = state.clone();
    let stop_instances = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop_instances.clone();
    let stop = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: exiting, instances keep running"),
            _ = int.recv() => tracing::info!("SIGINT: exiting, instances keep running"),
            _ = quit.recv() => tracing::info!("SIGQUIT: exiting, instances keep running"),
            _ = pwr.recv() => {
                tracing::info!("SIGPWR: shutting down instances");
                stop_flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            _ = shutdown.wait_for(|v| *v) => {
                tracing::info!("shutdown requested: shutting down instances");
                stop_flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    };
    lxd_api::server::serve(listener, st, stop).await;
    if stop_instances.load(std::sync::atomic::Ordering::SeqCst) {
        lxd_api::handlers_shutdown(&state).await;
        if let Err(e) = state.lxd.stop_networks().await {
            tracing::error!("stopping networks: {e}");
        }
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// `lxd waitready`: waits until the daemon answers.
pub fn waitready(timeout: u64) -> Result<()> {
    let client = Client::new(&crate::lxd_dir());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_secs(timeout));
        loop {
            if client
                .request(hyper::Method::GET, "/internal/ready", None)
                .await
                .is_ok()
            {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                bail!("LXD still not running after {timeout}s timeout");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// `lxd shutdown`: asks the daemon to stop its instances and exit, and waits for it.
pub fn shutdown(timeout: u64) -> Result<()> {
    let client = Client::new(&crate::lxd_dir());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        client
            .request(hyper::Method::PUT, "/internal/shutdown", None)
            .await
            .context("Failed to connect to LXD")?;
        let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_secs(timeout));
        while client
            .request(hyper::Method::GET, "/1.0", None)
            .await
            .is_ok()
        {
            if deadline.is_some_and(|d| Instant::now() > d) {
                bail!("LXD still running after {timeout}s timeout");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    })
}
