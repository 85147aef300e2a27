//! Writes the busybox image (an LXD unified tarball built offline from the host's static
//! busybox) to the path given as the first argument, and prints its fingerprint.
//! `cargo run -p lxd-examples --example busybox-image -- /tmp/busybox.tar.xz`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: busybox-image OUT.tar.xz")?;
    let built = lxd_core::image::busybox::build_image(out.as_ref())?;
    println!("{}", built.fingerprint);
    Ok(())
}
