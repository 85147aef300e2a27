//! Embedding lxd-core: build a busybox rootfs, start a container, run commands, stop it.
//! Run as root: `cargo run -p lxd-examples --example busybox`.
use lxd_core::image::busybox;
use lxd_core::{Instance, InstanceConfig, Runtime, RuntimeConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    lxd_core::init_hook(); // the runtime re-executes this program as each container's monitor
    let dir = std::env::temp_dir().join(format!("lxd-example-{}", std::process::id()));
    let rootfs = dir.join("rootfs");
    busybox::build_rootfs(&rootfs, busybox::HOST_BUSYBOX.as_ref())?;

    let runtime = Runtime::new(RuntimeConfig::new(&dir))?;
    let config = InstanceConfig::from_pairs([("limits.memory", "256MiB")])?;
    let c = runtime.container("demo", &rootfs, config)?;
    c.start().await?;
    println!("started {} ({:?})", c.name(), c.state().await?.status);

    for cmd in [&["hostname"][..], &["id"], &["ps"]] {
        let out = c.exec_output(cmd).await?;
        println!("$ {}\n{}", cmd.join(" "), out.stdout_str().trim_end());
    }

    c.stop().await?;
    println!("stopped: {:?}", c.state().await?.status);
    c.delete().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
