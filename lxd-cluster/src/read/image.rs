//! Reading images and aliases.

use lxd_core::store::{ImageAliasRecord, ImageRecord, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::col;
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup;
use crate::rows::{self, secs, IMAGE_PROPERTIES};

/// Which images to read.
pub(crate) enum Filter<'a> {
    /// The images of the project.
    All,
    /// The images whose fingerprint starts with this.
    Prefix(&'a str),
}

/// Images of a project, by fingerprint.
pub(crate) async fn images(
    conn: &mut SqliteConnection,
    project: &str,
    filter: Filter<'_>,
) -> StoreResult<Vec<ImageRecord>> {
    let project_id = lookup::project(conn, project).await?;
    let prefix = match filter {
        Filter::All => None,
        Filter::Prefix(p) => Some(p),
    };
    let sql = format!(
        "SELECT id, fingerprint, filename, size, public, auto_update, cached, architecture, \
         type, {}, {}, {}, {} FROM images \
         WHERE project_id = ?1 AND (?2 IS NULL OR substr(fingerprint, 1, length(?2)) = ?2) \
         ORDER BY fingerprint",
        secs("creation_date"),
        secs("upload_date"),
        secs("expiry_date"),
        secs("last_use_date"),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(project_id)
        .bind(prefix)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| format!("reading the images of project {project:?}"))?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "images"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut properties = rows::load_kv(conn, IMAGE_PROPERTIES, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(ImageRecord {
                project: project.to_string(),
                fingerprint: col(row, 1, "images")?,
                filename: col(row, 2, "images")?,
                size: col(row, 3, "images")?,
                public: col(row, 4, "images")?,
                auto_update: col(row, 5, "images")?,
                cached: col(row, 6, "images")?,
                architecture: codes::architecture_name(col(row, 7, "images")?).to_string(),
                image_type: codes::image_type_name(col(row, 8, "images")?)?.to_string(),
                created_at: col(row, 9, "images")?,
                uploaded_at: col(row, 10, "images")?,
                expires_at: col(row, 11, "images")?,
                last_used_at: col(row, 12, "images")?,
                properties: properties.remove(id).unwrap_or_default(),
            })
        })
        .collect()
}

/// One image by full fingerprint or unique prefix.
pub(crate) async fn image(
    conn: &mut SqliteConnection,
    project: &str,
    prefix: &str,
) -> StoreResult<ImageRecord> {
    let not_found = || StoreError::NotFound {
        kind: kind::IMAGE,
        name: prefix.to_string(),
    };
    if prefix.is_empty() {
        return Err(not_found());
    }
    let mut found = images(conn, project, Filter::Prefix(prefix)).await?;
    match found.len() {
        0 => Err(not_found()),
        1 => Ok(found.remove(0)),
        n => Err(StoreError::Unsupported(format!(
            "More than one image matches {prefix:?} in project {project:?} ({n} images): \
             give more of the fingerprint"
        ))),
    }
}

/// Aliases of a project (one of them with `name`), by name.
pub(crate) async fn aliases(
    conn: &mut SqliteConnection,
    project: &str,
    name: Option<&str>,
) -> StoreResult<Vec<ImageAliasRecord>> {
    let project_id = lookup::project(conn, project).await?;
    let rows = sqlx::query(
        "SELECT a.name, i.fingerprint, a.description FROM images_aliases a \
         JOIN images i ON i.id = a.image_id \
         WHERE a.project_id = ?1 AND (?2 IS NULL OR a.name = ?2) ORDER BY a.name",
    )
    .bind(project_id)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| format!("reading the image aliases of project {project:?}"))?;
    rows.iter()
        .map(|row| {
            Ok(ImageAliasRecord {
                project: project.to_string(),
                name: col(row, 0, "image aliases")?,
                fingerprint: col(row, 1, "image aliases")?,
                description: col(row, 2, "image aliases")?,
            })
        })
        .collect()
}
