//! Reading storage pools, volumes and volume snapshots.

use lxd_core::store::{
    StoragePoolRecord, StoreError, StoreResult, VolumeKey, VolumeRecord, VolumeSnapshotRecord,
    VolumeType,
};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::col;
use crate::codes;
use crate::error::Context;
use crate::lookup::{self, THIS_NODE};
use crate::rows::{self, secs, VOLUME_CONFIG, VOLUME_SNAPSHOT_CONFIG};

/// Pools (one of them with `name`), by name, with the configuration this node sees (its own
/// keys and the cluster-wide ones).
pub(crate) async fn pools(
    conn: &mut SqliteConnection,
    name: Option<&str>,
) -> StoreResult<Vec<StoragePoolRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, driver, description, state FROM storage_pools \
         WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| "reading storage pools".to_string())?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "storage pools"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_node_kv(conn, rows::POOL_CONFIG, THIS_NODE, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(StoragePoolRecord {
                name: col(row, 1, "storage pools")?,
                driver: col(row, 2, "storage pools")?,
                description: col(row, 3, "storage pools")?,
                status: codes::pool_state_name(col(row, 4, "storage pools")?).to_string(),
                config: config.remove(id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Which volumes to read.
pub(crate) enum Filter<'a> {
    /// Every volume of the pool.
    Pool(&'a str),
    /// One volume.
    One(&'a VolumeKey),
}

/// Volumes of this node, by name (then project and type).
pub(crate) async fn volumes(
    conn: &mut SqliteConnection,
    filter: Filter<'_>,
) -> StoreResult<Vec<VolumeRecord>> {
    let (pool_name, volume_id) = match filter {
        Filter::Pool(p) => {
            lookup::pool(conn, p).await?;
            (p, None)
        }
        Filter::One(key) => (key.pool.as_str(), Some(lookup::volume(conn, key).await?)),
    };
    let rows = sqlx::query(
        "SELECT v.id, p.name, v.type, v.name, v.description, v.content_type \
         FROM storage_volumes v \
         JOIN storage_pools sp ON sp.id = v.storage_pool_id \
         JOIN projects p ON p.id = v.project_id \
         WHERE sp.name = ?1 AND (v.node_id = ?2 OR v.node_id IS NULL) \
         AND (?3 IS NULL OR v.id = ?3) \
         ORDER BY v.name, p.name, v.type",
    )
    .bind(pool_name)
    .bind(THIS_NODE)
    .bind(volume_id)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| format!("reading the volumes of storage pool {pool_name:?}"))?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "storage volumes"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_kv(conn, VOLUME_CONFIG, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            let name: String = col(row, 3, "storage volumes")?;
            let code: i64 = col(row, 2, "storage volumes")?;
            let volume_type = VolumeType::from_code(code).ok_or_else(|| {
                StoreError::Database(format!("storage volume {name:?} has unknown type {code}"))
            })?;
            Ok(VolumeRecord {
                pool: pool_name.to_string(),
                project: col(row, 1, "storage volumes")?,
                volume_type,
                description: col(row, 4, "storage volumes")?,
                content_type: codes::content_type_name(col(row, 5, "storage volumes")?)?
                    .to_string(),
                config: config.remove(id).unwrap_or_default(),
                name,
            })
        })
        .collect()
}

/// Snapshots of a volume, oldest first.
pub(crate) async fn volume_snapshots(
    conn: &mut SqliteConnection,
    key: &VolumeKey,
) -> StoreResult<Vec<VolumeSnapshotRecord>> {
    let volume_id = lookup::volume(conn, key).await?;
    let sql = format!(
        "SELECT id, name, description, {} FROM storage_volumes_snapshots \
         WHERE storage_volume_id = ? ORDER BY id",
        secs("expiry_date")
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(volume_id)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| format!("reading the snapshots of storage volume {:?}", key.name))?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "volume snapshots"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_kv(conn, VOLUME_SNAPSHOT_CONFIG, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(VolumeSnapshotRecord {
                pool: key.pool.clone(),
                project: key.project.clone(),
                volume_type: key.volume_type,
                volume: key.name.clone(),
                name: col(row, 1, "volume snapshots")?,
                description: col(row, 2, "volume snapshots")?,
                expires_at: col(row, 3, "volume snapshots")?,
                config: config.remove(id).unwrap_or_default(),
            })
        })
        .collect()
}
