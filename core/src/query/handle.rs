//! `QueryHandle`: one SQLite connection that opens the evidence database, the Stage-1 derived
//! database and the Stage-2 index with `SQLITE_OPEN_READ_ONLY` and `PRAGMA query_only = 1`. It
//! hands out no connection: callers run read queries through it and nothing else. The counters
//! of contract §7 live here; nothing in the query path can increment them.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags, Params, Row};
use serde::Serialize;

use crate::store::DataRoot;
use crate::store::read_at_rest;

/// The evidence database opened read-only by `uri`, the derived database and the index
/// attached when present, and every one read once (SQLite opens lazily, so a database it cannot
/// read fails here, not in the first answer): the connection, whether the derived database is
/// there, and whether the index is usable.
fn open_databases(
    data_root: &DataRoot,
    uri: &dyn Fn(&Path) -> String,
) -> Result<(Connection, bool, bool), HandleError> {
    let metadata = data_root.metadata_db();
    let open_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: rusqlite::Error| HandleError::Open {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri(&metadata), flags).map_err(open_err(&metadata))?;
    conn.execute_batch("PRAGMA query_only = 1")
        .map_err(open_err(&metadata))?;
    conn.query_row("SELECT count(*) FROM main.sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(open_err(&metadata))?;
    let attach = |path: &Path, alias: &str| -> Result<bool, HandleError> {
        if !path.is_file() {
            return Ok(false);
        }
        conn.execute(&format!("ATTACH DATABASE ?1 AS {alias}"), [uri(path)])
            .map_err(open_err(path))?;
        conn.query_row(
            &format!("SELECT count(*) FROM {alias}.sqlite_master"),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(open_err(path))?;
        Ok(true)
    };
    let has_derived = attach(&data_root.derived_db(), "d")?;
    // An index is usable once it has every table the engine reads (an index written by an
    // older Stage 2 gains its focus runs on the next `stage2 run`).
    let has_index = attach(&data_root.stage2_db(), "s")?
        && conn
            .query_row(
                "SELECT count(*) FROM s.sqlite_master WHERE type = 'table' AND name IN ('search_frames', 'search_docs', 'focus_runs', 'search_contents', 'content_spans')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(open_err(&data_root.stage2_db()))?
            == 5;
    Ok((conn, has_derived, has_index))
}

/// Work the query path must never do; each stays 0 (contract §7).
#[derive(Debug, Default)]
pub struct Counters {
    extractor_launches: AtomicU64,
    schedule_extract_requests: AtomicU64,
    raw_media_reads: AtomicU64,
}

/// The counters as reported with every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CounterValues {
    pub query_extractor_launch_total: u64,
    pub query_schedule_extract_requests_total: u64,
    pub query_raw_media_reads_total: u64,
}

impl Counters {
    pub fn values(&self) -> CounterValues {
        CounterValues {
            query_extractor_launch_total: self.extractor_launches.load(Ordering::Relaxed),
            query_schedule_extract_requests_total: self
                .schedule_extract_requests
                .load(Ordering::Relaxed),
            query_raw_media_reads_total: self.raw_media_reads.load(Ordering::Relaxed),
        }
    }
}

/// A read-only view of one DataRoot.
pub struct QueryHandle {
    conn: Connection,
    root: std::path::PathBuf,
    pub has_derived: bool,
    pub has_index: bool,
    pub counters: Counters,
}

/// Why the DataRoot could not be opened for queries.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("open {path} read-only: no DataRoot there (no metadata.db)")]
    Missing { path: std::path::PathBuf },
    #[error("open {path} read-only: {reason}")]
    Open {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    HeavyInStage1(#[from] crate::base::stage1_context::HeavyInStage1),
}

impl HandleError {
    pub fn code(&self) -> &'static str {
        match self {
            HandleError::Missing { .. } => "data_dir_missing",
            HandleError::Open { .. } => "data_root_unreadable",
            HandleError::HeavyInStage1(inner) => inner.code(),
        }
    }
}

impl QueryHandle {
    /// Opens `data_root` read-only.
    pub fn open(data_root: &DataRoot) -> Result<QueryHandle, HandleError> {
        crate::base::stage1_context::refuse_heavy("query::QueryHandle::open")?;
        let metadata = data_root.metadata_db();
        if !metadata.is_file() {
            return Err(HandleError::Missing {
                path: data_root.root.clone(),
            });
        }
        // A plain read-only open first; where SQLite cannot create its shared-memory file (a
        // read-only mount, a folder without write permission), immutable reads instead.
        let (conn, has_derived, has_index) =
            read_at_rest(data_root, |uri| open_databases(data_root, uri))?;
        Ok(QueryHandle {
            conn,
            root: data_root.root.clone(),
            has_derived,
            has_index,
            counters: Counters::default(),
        })
    }

    /// The DataRoot this handle reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs a read query, mapping each row.
    pub fn rows<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, map)?;
        rows.collect()
    }

    /// Runs `read` inside one read transaction whose snapshot of every attached database is
    /// taken at its start, so all its statements see the DataRoot as it was then: an answer never
    /// mixes the states before and after a commit of Stage 1 or Stage 2.
    pub fn in_snapshot<T, E: From<rusqlite::Error>>(
        &self,
        read: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let mut schemas = vec!["main"];
        if self.has_derived {
            schemas.push("d");
        }
        if self.has_index {
            schemas.push("s");
        }
        let started = schemas.iter().try_for_each(|schema| {
            self.conn.query_row(
                &format!("SELECT count(*) FROM {schema}.sqlite_master"),
                [],
                |_| Ok(()),
            )
        });
        let result = started.map_err(E::from).and_then(|()| read());
        // Ending a read transaction cannot lose anything; a failure to end it is the read's.
        let ended = self.conn.execute_batch("COMMIT");
        let value = result?;
        ended?;
        Ok(value)
    }

    /// Tries to execute `sql` as a statement; used by tests to prove writes fail.
    pub fn try_execute(&self, sql: &str) -> rusqlite::Result<usize> {
        self.conn.execute(sql, [])
    }
}
