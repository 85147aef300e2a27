//! Applying [`StoreOp`]s inside the batch's transaction. Every op checks what it needs first
//! (the objects it refers to, the names it takes) so a failure names the object; the caller
//! rolls the transaction back on the first error.

mod image;
mod instance;
mod network;
mod project;
pub(crate) mod server;
mod storage;

use lxd_core::store::{StoreError, StoreOp, StoreResult};
use sqlx::SqliteConnection;

/// Applies one op on the batch's transaction.
pub(crate) async fn apply_op(conn: &mut SqliteConnection, op: &StoreOp) -> StoreResult<()> {
    match op {
        StoreOp::SetConfig { key, value } => server::set_config(conn, key, value.as_deref()).await,
        StoreOp::PutNode(rec) => server::put_node(conn, rec).await,
        StoreOp::CreateProject(rec) => project::create_project(conn, rec).await,
        StoreOp::UpdateProject(rec) => project::update_project(conn, rec).await,
        StoreOp::DeleteProject { name } => project::delete_project(conn, name).await,
        StoreOp::CreateProfile(rec) => project::create_profile(conn, rec).await,
        StoreOp::UpdateProfile(rec) => project::update_profile(conn, rec).await,
        StoreOp::RenameProfile {
            project,
            name,
            new_name,
        } => project::rename_profile(conn, project, name, new_name).await,
        StoreOp::DeleteProfile { project, name } => {
            project::delete_profile(conn, project, name).await
        }
        StoreOp::CreateInstance(rec) => instance::create_instance(conn, rec).await,
        StoreOp::UpdateInstance(rec) => instance::update_instance(conn, rec).await,
        StoreOp::SetInstanceConfig {
            project,
            name,
            changes,
        } => instance::set_instance_config(conn, project, name, changes).await,
        StoreOp::RenameInstance {
            project,
            name,
            new_name,
        } => instance::rename_instance(conn, project, name, new_name).await,
        StoreOp::DeleteInstance { project, name } => {
            instance::delete_instance(conn, project, name).await
        }
        StoreOp::CreateSnapshot(rec) => instance::create_snapshot(conn, rec).await,
        StoreOp::RenameSnapshot {
            project,
            instance,
            name,
            new_name,
        } => instance::rename_snapshot(conn, project, instance, name, new_name).await,
        StoreOp::DeleteSnapshot {
            project,
            instance,
            name,
        } => instance::delete_snapshot(conn, project, instance, name).await,
        StoreOp::CreateImage(rec) => image::create_image(conn, rec).await,
        StoreOp::UpdateImage(rec) => image::update_image(conn, rec).await,
        StoreOp::DeleteImage {
            project,
            fingerprint,
        } => image::delete_image(conn, project, fingerprint).await,
        StoreOp::CreateAlias(rec) => image::create_alias(conn, rec).await,
        StoreOp::UpdateAlias(rec) => image::update_alias(conn, rec).await,
        StoreOp::RenameAlias {
            project,
            name,
            new_name,
        } => image::rename_alias(conn, project, name, new_name).await,
        StoreOp::DeleteAlias { project, name } => image::delete_alias(conn, project, name).await,
        StoreOp::CreatePool(rec) => storage::create_pool(conn, rec).await,
        StoreOp::UpdatePool(rec) => storage::update_pool(conn, rec).await,
        StoreOp::DeletePool { name } => storage::delete_pool(conn, name).await,
        StoreOp::CreateVolume(rec) => storage::create_volume(conn, rec).await,
        StoreOp::UpdateVolume(rec) => storage::update_volume(conn, rec).await,
        StoreOp::RenameVolume { key, new_name } => {
            storage::rename_volume(conn, key, new_name).await
        }
        StoreOp::DeleteVolume(key) => storage::delete_volume(conn, key).await,
        StoreOp::CreateVolumeSnapshot(rec) => storage::create_volume_snapshot(conn, rec).await,
        StoreOp::DeleteVolumeSnapshot { key, name } => {
            storage::delete_volume_snapshot(conn, key, name).await
        }
        StoreOp::CreateNetwork(rec) => network::create_network(conn, rec).await,
        StoreOp::UpdateNetwork(rec) => network::update_network(conn, rec).await,
        StoreOp::RenameNetwork {
            project,
            name,
            new_name,
        } => network::rename_network(conn, project, name, new_name).await,
        StoreOp::DeleteNetwork { project, name } => {
            network::delete_network(conn, project, name).await
        }
    }
}

/// The error for a name that is taken.
pub(crate) fn already_exists(kind: &'static str, name: impl Into<String>) -> StoreError {
    StoreError::AlreadyExists {
        kind,
        name: name.into(),
    }
}

/// Refuses an empty name (LXD never stores one).
pub(crate) fn require_name(kind: &'static str, name: &str) -> StoreResult<()> {
    if name.is_empty() {
        return Err(StoreError::Unsupported(format!("{kind} name is empty")));
    }
    Ok(())
}

/// A list of names for messages, at most `max` of them (`c1, c2 and 3 more`).
pub(crate) fn name_list(names: &[String], max: usize) -> String {
    let mut out = names
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > max {
        out.push_str(&format!(" and {} more", names.len() - max));
    }
    out
}
