//! The two databases' schemas, as numbered migration steps applied in order.
//!
//! The global database follows the tables and columns of LXD 5.0's global database
//! (`lxd/db/cluster/schema.go`), so `lxd sql global` finds what a user of LXD expects; the
//! local one follows LXD's `local.db` (`lxd/db/node/schema.go`). The version numbers are this
//! program's own (LXD 5.0 is at 60 and 42): each step is recorded in the `schema` table
//! (`id`, `version`, `updated_at`) as LXD records its updates.
//!
//! Opening a database applies the missing steps in one transaction; a database whose version
//! is newer than the last step here is refused.

use std::path::Path;

use sqlx::{Connection, SqliteConnection};

use crate::codes;
use crate::error::Error;

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version the database has once this step is applied (1, 2, ...).
    pub version: u32,
    /// What the step does.
    pub description: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// The steps of the global database.
pub const GLOBAL_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "server config, nodes, projects, profiles, instances and their snapshots",
        sql: GLOBAL_1,
    },
    Migration {
        version: 2,
        description: "images, their properties, aliases and nodes",
        sql: GLOBAL_2,
    },
    Migration {
        version: 3,
        description: "storage pools, volumes and volume snapshots",
        sql: GLOBAL_3,
    },
    Migration {
        version: 4,
        description: "profiles of instance snapshots",
        sql: GLOBAL_4,
    },
    Migration {
        version: 5,
        description: "networks, their configuration and nodes",
        sql: GLOBAL_5,
    },
];

/// The steps of the local database.
pub const LOCAL_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "local config, applied patches and raft nodes",
    sql: LOCAL_1,
}];

/// The global database's schema version this program writes.
pub const GLOBAL_SCHEMA_VERSION: u32 = GLOBAL_MIGRATIONS[GLOBAL_MIGRATIONS.len() - 1].version;
/// The local database's schema version this program writes.
pub const LOCAL_SCHEMA_VERSION: u32 = LOCAL_MIGRATIONS[LOCAL_MIGRATIONS.len() - 1].version;

/// Which of the two databases a migration runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `database/global/db.bin`.
    Global,
    /// `database/local.db`.
    Local,
}

impl Kind {
    fn steps(self) -> &'static [Migration] {
        match self {
            Kind::Global => GLOBAL_MIGRATIONS,
            Kind::Local => LOCAL_MIGRATIONS,
        }
    }

    /// The newest version of this database.
    pub(crate) fn latest(self) -> u32 {
        match self {
            Kind::Global => GLOBAL_SCHEMA_VERSION,
            Kind::Local => LOCAL_SCHEMA_VERSION,
        }
    }
}

/// LXD's `schema` table.
const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    version INTEGER NOT NULL,
    updated_at DATETIME NOT NULL,
    UNIQUE (version)
)";

/// Brings the database on `conn` to `target` in one transaction and returns the version it had.
/// A fresh global database is seeded as LXD seeds it (node `none`, project and profile
/// `default`) in the same transaction.
pub(crate) async fn migrate(
    conn: &mut SqliteConnection,
    path: &Path,
    kind: Kind,
    target: u32,
) -> Result<u32, Error> {
    let latest = kind.latest();
    if target > latest {
        return Err(Error::NoSuchVersion {
            path: path.to_path_buf(),
            version: target,
            supported: latest,
        });
    }
    let open_err = |e: sqlx::Error| Error::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(open_err)?;
    let initial = migrate_in_tx(&mut tx, path, kind, target).await?;
    tx.commit().await.map_err(open_err)?;
    Ok(initial)
}

async fn migrate_in_tx(
    conn: &mut SqliteConnection,
    path: &Path,
    kind: Kind,
    target: u32,
) -> Result<u32, Error> {
    let open_err = |e: sqlx::Error| Error::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    sqlx::raw_sql(SCHEMA_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(open_err)?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema")
        .fetch_one(&mut *conn)
        .await
        .map_err(open_err)?;
    let current = u32::try_from(current.unwrap_or(0)).map_err(|_| Error::Open {
        path: path.to_path_buf(),
        reason: format!("invalid schema version {current:?}"),
    })?;
    let latest = kind.latest();
    if current > latest {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found: current,
            supported: latest,
        });
    }
    for step in kind.steps() {
        if step.version <= current || step.version > target {
            continue;
        }
        tracing::info!(
            path = %path.display(),
            version = step.version,
            "updating database schema: {}",
            step.description
        );
        let step_err = |e: sqlx::Error| Error::Migrate {
            path: path.to_path_buf(),
            version: step.version,
            reason: e.to_string(),
        };
        sqlx::raw_sql(step.sql)
            .execute(&mut *conn)
            .await
            .map_err(step_err)?;
        sqlx::query("INSERT INTO schema (version, updated_at) VALUES (?, strftime('%s'))")
            .bind(i64::from(step.version))
            .execute(&mut *conn)
            .await
            .map_err(step_err)?;
        if kind == Kind::Global && step.version == 1 && current == 0 {
            seed_global(conn).await.map_err(step_err)?;
        }
    }
    let reached = current.max(target);
    if kind == Kind::Global && reached > current && reached >= 1 {
        sqlx::query("UPDATE nodes SET schema = ? WHERE id = 1")
            .bind(i64::from(reached))
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::Migrate {
                path: path.to_path_buf(),
                version: reached,
                reason: e.to_string(),
            })?;
    }
    Ok(current)
}

/// What LXD inserts into a new global database (`lxd/db/cluster/open.go`): this node as
/// `none` at `0.0.0.0`, the `default` project with every project feature on, and its
/// `default` profile.
async fn seed_global(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO nodes (id, name, description, address, schema, api_extensions, arch) \
         VALUES (1, 'none', '', '0.0.0.0', ?, 0, ?)",
    )
    .bind(i64::from(GLOBAL_SCHEMA_VERSION))
    .bind(codes::local_architecture_id())
    .execute(&mut *conn)
    .await?;
    sqlx::raw_sql(
        "INSERT INTO projects (id, name, description) VALUES (1, 'default', 'Default LXD project');
         INSERT INTO projects_config (project_id, key, value) VALUES
             (1, 'features.images', 'true'),
             (1, 'features.networks', 'true'),
             (1, 'features.profiles', 'true'),
             (1, 'features.storage.volumes', 'true');
         INSERT INTO profiles (name, description, project_id)
             VALUES ('default', 'Default LXD profile', 1);",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Global step 1: LXD 5.0's tables for server config, nodes, projects, profiles, instances and
/// instance snapshots.
const GLOBAL_1: &str = r#"
CREATE TABLE config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    UNIQUE (key)
);
CREATE TABLE nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL,
    schema INTEGER NOT NULL,
    api_extensions INTEGER NOT NULL,
    heartbeat DATETIME DEFAULT CURRENT_TIMESTAMP,
    state INTEGER NOT NULL DEFAULT 0,
    arch INTEGER NOT NULL DEFAULT 0 CHECK (arch > 0),
    UNIQUE (name),
    UNIQUE (address)
);
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    UNIQUE (name)
);
CREATE TABLE projects_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    UNIQUE (project_id, key)
);
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    UNIQUE (project_id, name),
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX profiles_project_id_idx ON profiles (project_id);
CREATE TABLE profiles_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    profile_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    UNIQUE (profile_id, key),
    FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
);
CREATE TABLE profiles_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    profile_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    type INTEGER NOT NULL DEFAULT 0,
    UNIQUE (profile_id, name),
    FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
);
CREATE TABLE profiles_devices_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    profile_device_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    UNIQUE (profile_device_id, key),
    FOREIGN KEY (profile_device_id) REFERENCES profiles_devices (id) ON DELETE CASCADE
);
CREATE TABLE instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    node_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    architecture INTEGER NOT NULL,
    type INTEGER NOT NULL,
    ephemeral INTEGER NOT NULL DEFAULT 0,
    creation_date DATETIME NOT NULL DEFAULT 0,
    stateful INTEGER NOT NULL DEFAULT 0,
    last_use_date DATETIME,
    description TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    expiry_date DATETIME,
    UNIQUE (project_id, name),
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX instances_node_id_idx ON instances (node_id);
CREATE INDEX instances_project_id_and_name_idx ON instances (project_id, name);
CREATE INDEX instances_project_id_and_node_id_and_name_idx ON instances (project_id, node_id, name);
CREATE INDEX instances_project_id_and_node_id_idx ON instances (project_id, node_id);
CREATE INDEX instances_project_id_idx ON instances (project_id);
CREATE TABLE instances_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE,
    UNIQUE (instance_id, key)
);
CREATE TABLE instances_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    type INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE,
    UNIQUE (instance_id, name)
);
CREATE TABLE instances_devices_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_device_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (instance_device_id) REFERENCES instances_devices (id) ON DELETE CASCADE,
    UNIQUE (instance_device_id, key)
);
CREATE TABLE instances_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL,
    profile_id INTEGER NOT NULL,
    apply_order INTEGER NOT NULL DEFAULT 0,
    UNIQUE (instance_id, profile_id),
    FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE,
    FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
);
CREATE TABLE instances_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    creation_date DATETIME NOT NULL DEFAULT 0,
    stateful INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL,
    expiry_date DATETIME,
    UNIQUE (instance_id, name),
    FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE instances_snapshots_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_snapshot_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (instance_snapshot_id) REFERENCES instances_snapshots (id) ON DELETE CASCADE,
    UNIQUE (instance_snapshot_id, key)
);
CREATE TABLE instances_snapshots_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_snapshot_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    type INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (instance_snapshot_id) REFERENCES instances_snapshots (id) ON DELETE CASCADE,
    UNIQUE (instance_snapshot_id, name)
);
CREATE TABLE instances_snapshots_devices_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_snapshot_device_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (instance_snapshot_device_id) REFERENCES instances_snapshots_devices (id) ON DELETE CASCADE,
    UNIQUE (instance_snapshot_device_id, key)
);
"#;

/// Global step 2: LXD 5.0's image tables.
const GLOBAL_2: &str = r#"
CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    fingerprint TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    public INTEGER NOT NULL DEFAULT 0,
    architecture INTEGER NOT NULL,
    creation_date DATETIME,
    expiry_date DATETIME,
    upload_date DATETIME NOT NULL,
    cached INTEGER NOT NULL DEFAULT 0,
    last_use_date DATETIME,
    auto_update INTEGER NOT NULL DEFAULT 0,
    project_id INTEGER NOT NULL,
    type INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, fingerprint),
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX images_project_id_idx ON images (project_id);
CREATE TABLE images_properties (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    image_id INTEGER NOT NULL,
    type INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE
);
CREATE TABLE images_aliases (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    image_id INTEGER NOT NULL,
    description TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    UNIQUE (project_id, name),
    FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE,
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE INDEX images_aliases_project_id_idx ON images_aliases (project_id);
CREATE TABLE images_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    image_id INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    UNIQUE (image_id, node_id),
    FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE,
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
"#;

/// Global step 3: LXD 5.0's storage tables.
const GLOBAL_3: &str = r#"
CREATE TABLE storage_pools (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    driver TEXT NOT NULL,
    description TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    UNIQUE (name)
);
CREATE TABLE storage_pools_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    storage_pool_id INTEGER NOT NULL,
    node_id INTEGER,
    key TEXT NOT NULL,
    value TEXT,
    UNIQUE (storage_pool_id, node_id, key),
    FOREIGN KEY (storage_pool_id) REFERENCES storage_pools (id) ON DELETE CASCADE,
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX storage_pools_unique_storage_pool_id_node_id_key
    ON storage_pools_config (storage_pool_id, IFNULL(node_id, -1), key);
CREATE TABLE storage_pools_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    storage_pool_id INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    UNIQUE (storage_pool_id, node_id),
    FOREIGN KEY (storage_pool_id) REFERENCES storage_pools (id) ON DELETE CASCADE,
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE TABLE storage_volumes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    storage_pool_id INTEGER NOT NULL,
    node_id INTEGER,
    type INTEGER NOT NULL,
    description TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    content_type INTEGER NOT NULL DEFAULT 0,
    UNIQUE (storage_pool_id, node_id, project_id, name, type),
    FOREIGN KEY (storage_pool_id) REFERENCES storage_pools (id) ON DELETE CASCADE,
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE,
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE storage_volumes_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    storage_volume_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    UNIQUE (storage_volume_id, key),
    FOREIGN KEY (storage_volume_id) REFERENCES storage_volumes (id) ON DELETE CASCADE
);
CREATE TABLE storage_volumes_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    storage_volume_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    expiry_date DATETIME,
    UNIQUE (storage_volume_id, name),
    FOREIGN KEY (storage_volume_id) REFERENCES storage_volumes (id) ON DELETE CASCADE
);
CREATE TABLE storage_volumes_snapshots_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    storage_volume_snapshot_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    FOREIGN KEY (storage_volume_snapshot_id) REFERENCES storage_volumes_snapshots (id) ON DELETE CASCADE,
    UNIQUE (storage_volume_snapshot_id, key)
);
"#;

/// Global step 4: the profiles an instance snapshot was taken with. LXD keeps none for
/// snapshots (it shows the parent's); this table keeps them by name, in order, so a snapshot's
/// record reads back as it was written even after its profiles change or go.
const GLOBAL_4: &str = r#"
CREATE TABLE instances_snapshots_profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    instance_snapshot_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    apply_order INTEGER NOT NULL DEFAULT 0,
    UNIQUE (instance_snapshot_id, name),
    FOREIGN KEY (instance_snapshot_id) REFERENCES instances_snapshots (id) ON DELETE CASCADE
);
"#;

/// Global step 5: LXD 5.0's network tables.
const GLOBAL_5: &str = r#"
CREATE TABLE networks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    state INTEGER NOT NULL DEFAULT 0,
    type INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, name),
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
);
CREATE TABLE networks_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    network_id INTEGER NOT NULL,
    node_id INTEGER,
    key TEXT NOT NULL,
    value TEXT,
    UNIQUE (network_id, node_id, key),
    FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE,
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX networks_unique_network_id_node_id_key
    ON networks_config (network_id, IFNULL(node_id, -1), key);
CREATE TABLE networks_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    network_id INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    UNIQUE (network_id, node_id),
    FOREIGN KEY (network_id) REFERENCES networks (id) ON DELETE CASCADE,
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE
);
"#;

/// Local step 1: LXD 5.0's `local.db` tables.
const LOCAL_1: &str = r#"
CREATE TABLE config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    key VARCHAR(255) NOT NULL,
    value TEXT,
    UNIQUE (key)
);
CREATE TABLE patches (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME NOT NULL,
    UNIQUE (name)
);
CREATE TABLE raft_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    address TEXT NOT NULL,
    role INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL DEFAULT '',
    UNIQUE (address)
);
"#;
