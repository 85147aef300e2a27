//! Profile set-up shared by the test binaries.

use lxd_core::store::{ConfigMap, StoreOp};
use lxd_core::Lxd;

/// Gives the default profile a root disk on `pool`.
pub async fn set_root_pool(lxd: &Lxd, pool: &str) {
    let mut prof = lxd.store().profile("default", "default").await.unwrap();
    let mut root = ConfigMap::new();
    root.insert("type".into(), "disk".into());
    root.insert("path".into(), "/".into());
    root.insert("pool".into(), pool.into());
    prof.devices.insert("root".into(), root);
    lxd.store()
        .apply(vec![StoreOp::UpdateProfile(prof)])
        .await
        .unwrap();
}
