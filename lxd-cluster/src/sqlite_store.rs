//! [`SqliteStore`]: the single-node [`ClusterStore`] on LXD's two sqlite databases.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use lxd_core::store::{
    ClusterStore, ConfigMap, Database, ImageAliasRecord, ImageRecord, InstanceRecord,
    NetworkRecord, NodeRecord, ProfileRecord, ProjectRecord, QueryResult, SnapshotRecord,
    StoragePoolRecord, StoreError, StoreOp, StoreResult, VolumeKey, VolumeRecord,
    VolumeSnapshotRecord,
};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool, Transaction};

use crate::error::{Context, Error};
use crate::kind;
use crate::read;
use crate::schema::{self, Kind};
use crate::{raw, write};

/// Connections of the global database's pool: sqlite serialises writers anyway, and each
/// connection is a thread with its own copy of the schema, page cache and prepared
/// statements, so two (a read can go on beside a write) are what a small host needs.
const GLOBAL_CONNECTIONS: u32 = 2;
/// Connections of the local database's pool (only `lxd sql local` reads it).
const LOCAL_CONNECTIONS: u32 = 1;
/// How long an unused connection of the local database stays open.
const LOCAL_IDLE: Duration = Duration::from_secs(30);
/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The state store of a single node: LXD's global database (`database/global/db.bin`) for
/// every record, and optionally its local one (`database/local.db`) for `lxd sql local`.
///
/// Both are sqlite files in WAL mode with foreign keys on. Each [`ClusterStore::apply`] batch
/// is one `BEGIN IMMEDIATE` transaction; each read is a single statement or runs in one read
/// transaction, so it sees a consistent state.
#[derive(Debug)]
pub struct SqliteStore {
    global: SqlitePool,
    global_path: PathBuf,
    local: Option<(SqlitePool, PathBuf)>,
}

/// Creates `path`'s directory (0700, as LXD's `database` directory) and opens a pool on it.
async fn open_pool(
    path: &Path,
    connections: u32,
    idle: Option<Duration>,
) -> Result<SqlitePool, Error> {
    let open_err = |reason: String| Error::Open {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| open_err(format!("creating {}: {e}", dir.display())))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // In WAL mode NORMAL keeps the database consistent across crashes and only syncs at
        // checkpoints, so a commit is not an fsync.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .min_connections(0);
    if let Some(idle) = idle {
        pool = pool.idle_timeout(idle);
    }
    pool.connect_with(options)
        .await
        .map_err(|e| open_err(e.to_string()))
}

/// Opens a database and brings its schema to `target`.
async fn open_db(
    path: &Path,
    kind: Kind,
    target: u32,
    connections: u32,
    idle: Option<Duration>,
) -> Result<SqlitePool, Error> {
    let pool = open_pool(path, connections, idle).await?;
    let migrated = async {
        let mut conn = pool.acquire().await.map_err(|e| Error::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        schema::migrate(&mut conn, path, kind, target).await
    }
    .await;
    match migrated {
        Ok(initial) => {
            tracing::debug!(path = %path.display(), from = initial, to = target.max(initial), "database open");
            Ok(pool)
        }
        Err(e) => {
            pool.close().await;
            Err(e)
        }
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the global database at `path`, applying the schema steps
    /// it lacks; a new one is seeded as LXD seeds it: node `none` at `0.0.0.0`, project
    /// `default` with `features.images`, `features.networks`, `features.profiles` and
    /// `features.storage.volumes` on, and its profile `default`. Without a local database,
    /// `query(Database::Local, ..)` answers [`StoreError::Unsupported`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let global_path = path.as_ref().to_path_buf();
        let global = open_db(
            &global_path,
            Kind::Global,
            schema::GLOBAL_SCHEMA_VERSION,
            GLOBAL_CONNECTIONS,
            None,
        )
        .await?;
        Ok(SqliteStore {
            global,
            global_path,
            local: None,
        })
    }

    /// Opens the global database at `global` and the local one at `local`.
    pub async fn open_with_local(
        global: impl AsRef<Path>,
        local: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let mut store = Self::open(global).await?;
        let local_path = local.as_ref().to_path_buf();
        match open_db(
            &local_path,
            Kind::Local,
            schema::LOCAL_SCHEMA_VERSION,
            LOCAL_CONNECTIONS,
            Some(LOCAL_IDLE),
        )
        .await
        {
            Ok(pool) => {
                store.local = Some((pool, local_path));
                Ok(store)
            }
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
    }

    /// Opens both databases where LXD keeps them under `lxd_dir`:
    /// `database/global/db.bin` and `database/local.db`.
    pub async fn open_dir(lxd_dir: impl AsRef<Path>) -> Result<Self, Error> {
        let db = lxd_dir.as_ref().join("database");
        Self::open_with_local(db.join("global").join("db.bin"), db.join("local.db")).await
    }

    /// Creates a database (or upgrades an older one) only up to schema `version`, without
    /// opening a store on it. This is for tests of upgrades: opening the file afterwards must
    /// apply the remaining steps.
    pub async fn create_at_version(
        db: Database,
        path: impl AsRef<Path>,
        version: u32,
    ) -> Result<(), Error> {
        let kind = match db {
            Database::Global => Kind::Global,
            Database::Local => Kind::Local,
        };
        let pool = open_db(path.as_ref(), kind, version, 1, None).await?;
        pool.close().await;
        Ok(())
    }

    /// The global database's file.
    pub fn global_path(&self) -> &Path {
        &self.global_path
    }

    /// The local database's file, if one was opened.
    pub fn local_path(&self) -> Option<&Path> {
        self.local.as_ref().map(|(_, p)| p.as_path())
    }

    /// The schema version a database is at.
    pub async fn schema_version(&self, db: Database) -> StoreResult<u32> {
        let pool = self.pool(db)?;
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema")
            .fetch_one(pool)
            .await
            .ctx(|| "reading the schema version".to_string())?;
        u32::try_from(v.unwrap_or(0))
            .map_err(|_| StoreError::Database(format!("invalid schema version {v:?}")))
    }

    /// Closes both databases, waiting for their connections to finish.
    pub async fn close(self) {
        self.global.close().await;
        if let Some((pool, _)) = self.local {
            pool.close().await;
        }
    }

    fn pool(&self, db: Database) -> StoreResult<&SqlitePool> {
        match db {
            Database::Global => Ok(&self.global),
            Database::Local => self.local.as_ref().map(|(p, _)| p).ok_or_else(|| {
                StoreError::Unsupported(format!(
                    "no local database was opened with the global one at {}",
                    self.global_path.display()
                ))
            }),
        }
    }

    /// A connection of the global database for a read that is one statement: a statement
    /// sees one consistent state of its own, so it needs no transaction (and no `BEGIN` and
    /// `ROLLBACK` round trips). A second statement only runs to tell which object is missing
    /// when the first found nothing.
    async fn conn(&self) -> StoreResult<PoolConnection<sqlx::Sqlite>> {
        self.global
            .acquire()
            .await
            .ctx(|| format!("opening a read on {}", self.global_path.display()))
    }

    /// A read transaction on the global database.
    async fn read(&self) -> StoreResult<Transaction<'static, sqlx::Sqlite>> {
        self.global
            .begin()
            .await
            .ctx(|| format!("opening a read on {}", self.global_path.display()))
    }
}

/// Ends a read transaction and hands back its result.
async fn finish<T>(
    tx: Transaction<'static, sqlx::Sqlite>,
    result: StoreResult<T>,
) -> StoreResult<T> {
    // A read changes nothing: rolling back only releases the snapshot.
    let _ = tx.rollback().await;
    result
}

/// The single record of a one-row read, or NotFound.
fn one<T>(mut found: Vec<T>, kind: &'static str, name: &str) -> StoreResult<T> {
    if found.is_empty() {
        return Err(StoreError::NotFound {
            kind,
            name: name.to_string(),
        });
    }
    Ok(found.swap_remove(0))
}

async fn apply_all(conn: &mut SqliteConnection, ops: &[StoreOp]) -> StoreResult<()> {
    for op in ops {
        write::apply_op(conn, op).await?;
    }
    Ok(())
}

#[async_trait]
impl ClusterStore for SqliteStore {
    async fn apply(&self, ops: Vec<StoreOp>) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .global
            .begin_with("BEGIN IMMEDIATE")
            .await
            .ctx(|| format!("starting a write on {}", self.global_path.display()))?;
        match apply_all(&mut tx, &ops).await {
            Ok(()) => tx
                .commit()
                .await
                .ctx(|| format!("committing a write on {}", self.global_path.display())),
            Err(e) => {
                tracing::debug!(error = %e, ops = ops.len(), "batch rolled back");
                if let Err(r) = tx.rollback().await {
                    tracing::warn!(error = %r, "rolling back a failed batch");
                }
                Err(e)
            }
        }
    }

    async fn config(&self) -> StoreResult<ConfigMap> {
        let mut tx = self.read().await?;
        let r = read::config(&mut tx).await;
        finish(tx, r).await
    }

    async fn nodes(&self) -> StoreResult<Vec<NodeRecord>> {
        let mut tx = self.read().await?;
        let r = read::nodes(&mut tx).await;
        finish(tx, r).await
    }

    async fn projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        let mut tx = self.read().await?;
        let r = read::project::projects(&mut tx, None).await;
        finish(tx, r).await
    }

    async fn project(&self, name: &str) -> StoreResult<ProjectRecord> {
        let mut tx = self.read().await?;
        let r = read::project::projects(&mut tx, Some(name)).await;
        one(finish(tx, r).await?, kind::PROJECT, name)
    }

    async fn profiles(&self, project: &str) -> StoreResult<Vec<ProfileRecord>> {
        read::project::profiles(&mut *self.conn().await?, project, None).await
    }

    async fn profile(&self, project: &str, name: &str) -> StoreResult<ProfileRecord> {
        let r = read::project::profiles(&mut *self.conn().await?, project, Some(name)).await;
        one(r?, kind::PROFILE, name)
    }

    async fn instances(&self, project: Option<&str>) -> StoreResult<Vec<InstanceRecord>> {
        let filter = match project {
            Some(p) => read::instance::Filter::Project(p),
            None => read::instance::Filter::All,
        };
        read::instance::instances(&mut *self.conn().await?, filter).await
    }

    async fn instance(&self, project: &str, name: &str) -> StoreResult<InstanceRecord> {
        let filter = read::instance::Filter::One(project, name);
        let r = read::instance::instances(&mut *self.conn().await?, filter).await;
        one(r?, kind::INSTANCE, name)
    }

    async fn snapshots(&self, project: &str, instance: &str) -> StoreResult<Vec<SnapshotRecord>> {
        read::instance::snapshots(&mut *self.conn().await?, project, instance, None).await
    }

    async fn all_snapshots(&self, project: Option<&str>) -> StoreResult<Vec<SnapshotRecord>> {
        read::instance::all_snapshots(&mut *self.conn().await?, project).await
    }

    async fn snapshot(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> StoreResult<SnapshotRecord> {
        let r = read::instance::snapshots(&mut *self.conn().await?, project, instance, Some(name))
            .await;
        one(r?, kind::SNAPSHOT, &format!("{instance}/{name}"))
    }

    async fn images(&self, project: &str) -> StoreResult<Vec<ImageRecord>> {
        let mut tx = self.read().await?;
        let r = read::image::images(&mut tx, project, read::image::Filter::All).await;
        finish(tx, r).await
    }

    async fn image(&self, project: &str, fingerprint: &str) -> StoreResult<ImageRecord> {
        let mut tx = self.read().await?;
        let r = read::image::image(&mut tx, project, fingerprint).await;
        finish(tx, r).await
    }

    async fn aliases(&self, project: &str) -> StoreResult<Vec<ImageAliasRecord>> {
        let mut tx = self.read().await?;
        let r = read::image::aliases(&mut tx, project, None).await;
        finish(tx, r).await
    }

    async fn alias(&self, project: &str, name: &str) -> StoreResult<ImageAliasRecord> {
        let mut tx = self.read().await?;
        let r = read::image::aliases(&mut tx, project, Some(name)).await;
        one(finish(tx, r).await?, kind::ALIAS, name)
    }

    async fn pools(&self) -> StoreResult<Vec<StoragePoolRecord>> {
        let mut tx = self.read().await?;
        let r = read::storage::pools(&mut tx, None).await;
        finish(tx, r).await
    }

    async fn pool(&self, name: &str) -> StoreResult<StoragePoolRecord> {
        let mut tx = self.read().await?;
        let r = read::storage::pools(&mut tx, Some(name)).await;
        one(finish(tx, r).await?, kind::POOL, name)
    }

    async fn volumes(&self, pool: &str) -> StoreResult<Vec<VolumeRecord>> {
        let mut tx = self.read().await?;
        let r = read::storage::volumes(&mut tx, read::storage::Filter::Pool(pool)).await;
        finish(tx, r).await
    }

    async fn volume(&self, key: &VolumeKey) -> StoreResult<VolumeRecord> {
        let mut tx = self.read().await?;
        let r = read::storage::volumes(&mut tx, read::storage::Filter::One(key)).await;
        one(finish(tx, r).await?, kind::VOLUME, &key.name)
    }

    async fn volume_snapshots(&self, key: &VolumeKey) -> StoreResult<Vec<VolumeSnapshotRecord>> {
        let mut tx = self.read().await?;
        let r = read::storage::volume_snapshots(&mut tx, key).await;
        finish(tx, r).await
    }

    async fn networks(&self, project: &str) -> StoreResult<Vec<NetworkRecord>> {
        let mut tx = self.read().await?;
        let r = read::network::networks(&mut tx, project, None).await;
        finish(tx, r).await
    }

    async fn network(&self, project: &str, name: &str) -> StoreResult<NetworkRecord> {
        let mut tx = self.read().await?;
        let r = read::network::networks(&mut tx, project, Some(name)).await;
        one(finish(tx, r).await?, kind::NETWORK, name)
    }

    async fn query(&self, db: Database, sql: &str) -> StoreResult<QueryResult> {
        let name = match db {
            Database::Global => "global",
            Database::Local => "local",
        };
        raw::run(self.pool(db)?, name, sql).await
    }
}
