//! What the scenario steps do. Every operation uses the real core (ingest, marker, UIA, query,
//! the popup server on a real loopback socket, the audit log) or the real `autocapture` binary,
//! on private copies of a generated spool in a temp dir; every expectation returns an error that
//! says what was expected and what was found.
//!
//! A run first calls [`install`] with its [`Settings`]; each scenario's [`ContractWorld`] starts
//! from them. The world's steps are split by subject: `ingest` (handoffs and ingest), `commands`
//! (command outcomes), `reap_marker`, `drain` (the drain and the activity signal), `uia`, `ask`
//! (the query), `popup` (the popup server), `binding`, `audit` (the audit chain) and `identity`
//! (the contract identity).

mod ask;
mod audit;
mod binding;
mod commands;
mod drain;
mod identity;
mod ingest;
mod popup;
mod reap_marker;
mod uia;

use std::io::Read;
use std::net::SocketAddr;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use autocapture_core::audit::{AuditEvent, AuditLog};
use autocapture_core::base::clock::{SteppingClock, SystemClock};
use autocapture_core::base::lock::ExclusiveLock;
use autocapture_core::contract::sha256_hex;
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::server::{DEFAULT_BIND, POPUP_TIMEOUT, check_bind};
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::store::DataRoot;
use autocapture_core::store::lock_data_root;
use autocapture_core::uia::{Section, doc_id};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::contract::schemas::ContractSet;
use crate::corpus::build::BUILD_TIME;
use crate::corpus::copies::copy_tree;
use crate::corpus::digest::{DataRootDigest, digest};
use crate::probe::http::Client;
use crate::probe::server::LoopbackServer;

/// The arguments of `autocapture handoff ingest --json` of `handoff` into the DataRoot `data`.
pub fn ingest_args(handoff: &Path, data: &Path) -> Vec<String> {
    vec![
        "handoff".into(),
        "ingest".into(),
        "--handoff-root".into(),
        handoff.display().to_string(),
        "--data-dir".into(),
        data.display().to_string(),
        "--json".into(),
    ]
}

/// What every scenario of a run shares.
#[derive(Debug)]
pub struct Settings {
    /// The real `autocapture` binary.
    pub autocapture_bin: PathBuf,
    /// A generated spool, never changed: scenarios copy what they use.
    pub template_spool: PathBuf,
    /// Where scenarios make their private folders.
    pub work: PathBuf,
    /// The workspace (for the sister document and the contract schemas).
    pub workspace: PathBuf,
    /// An ingested and indexed DataRoot of the template spool, built on first use.
    indexed: Mutex<Option<PathBuf>>,
}

impl Settings {
    pub fn new(
        autocapture_bin: PathBuf,
        template_spool: PathBuf,
        work: PathBuf,
        workspace: PathBuf,
    ) -> Settings {
        Settings {
            autocapture_bin,
            template_spool,
            work,
            workspace,
            indexed: Mutex::new(None),
        }
    }

    /// The template's handoffs, sorted by name.
    pub(super) fn handoffs(&self) -> anyhow::Result<Vec<PathBuf>> {
        Ok(autocapture_core::stage1::drain::list_handoffs(
            &self.template_spool,
        )?)
    }

    /// The indexed template DataRoot, built once: every handoff ingested, then Stage 2 under an
    /// idle signal, with clocks fixed at [`BUILD_TIME`].
    pub(super) fn indexed(&self) -> anyhow::Result<PathBuf> {
        let mut slot = self
            .indexed
            .lock()
            .map_err(|_| anyhow!("the indexed DataRoot's lock is poisoned"))?;
        if let Some(path) = slot.as_ref() {
            return Ok(path.clone());
        }
        let data = DataRoot::new(self.work.join("indexed-template"));
        let clock = SteppingClock::new(BUILD_TIME, time::Duration::milliseconds(1));
        for handoff in self.handoffs()? {
            let copy = self.work.join("indexed-spool").join(
                handoff
                    .file_name()
                    .context("a handoff without a folder name")?,
            );
            copy_tree(&handoff, &copy)?;
            ingest_handoff(&copy, &data, &IngestOptions::default(), &clock)?;
        }
        crate::corpus::build::index_while_idle(
            &data,
            &SteppingClock::new(BUILD_TIME, time::Duration::ZERO),
        )?;
        *slot = Some(data.root.clone());
        Ok(data.root)
    }
}

static SETTINGS: Mutex<Option<Arc<Settings>>> = Mutex::new(None);

/// Makes `settings` the ones new scenarios start from.
pub fn install(settings: Arc<Settings>) {
    if let Ok(mut slot) = SETTINGS.lock() {
        *slot = Some(settings);
    }
}

fn installed() -> Option<Arc<Settings>> {
    SETTINGS.lock().ok().and_then(|slot| slot.clone())
}

/// The outcome of one run of the `autocapture` binary.
#[derive(Debug, Clone)]
pub struct CommandResult {
    pub args: Vec<String>,
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout as JSON, when it is.
    pub json: Option<Value>,
}

impl CommandResult {
    /// The error code: `error.code` of the JSON document, else the `error[CODE]` of stderr.
    pub fn error_code(&self) -> Option<String> {
        if let Some(code) = self.json.as_ref().and_then(|j| j["error"]["code"].as_str()) {
            return Some(code.to_owned());
        }
        let start = self.stderr.find("error[")? + "error[".len();
        let end = self.stderr[start..].find(']')? + start;
        Some(self.stderr[start..end].to_owned())
    }

    pub(super) fn json(&self) -> anyhow::Result<&Value> {
        self.json.as_ref().with_context(|| {
            format!(
                "`autocapture {}` printed no JSON document: {}{}",
                self.args.join(" "),
                self.stdout,
                self.stderr
            )
        })
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "`autocapture {}` exited {} (stdout {}; stderr {})",
            self.args.join(" "),
            self.exit,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// An HTTP response: status and body as JSON (`null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

/// What the activity signal says, written afresh before each command that reads it.
#[derive(Debug, Clone)]
enum SignalSpec {
    /// A well-formed signal `age_seconds` old.
    Aged { age_seconds: i64, active: bool },
    /// Literal text; `NOW` stands for the current time.
    Text(String),
}

/// A frame and its three UIA docs (section, id, payload).
type FrameDocs = (Value, Vec<(Section, String, Value)>);

/// One scenario's state.
#[derive(cucumber::World, Default)]
pub struct ContractWorld {
    settings: Option<Arc<Settings>>,
    dir: Option<tempfile::TempDir>,
    handoff: Option<PathBuf>,
    second_handoff: Option<PathBuf>,
    spool: Option<PathBuf>,
    data: Option<DataRoot>,
    signal: Option<PathBuf>,
    signal_spec: Option<SignalSpec>,
    config: Option<PathBuf>,
    before: Option<DataRootDigest>,
    last: Option<CommandResult>,
    first_marker: Option<Value>,
    lock: Option<ExclusiveLock>,
    snapshot: Option<(String, Value)>,
    handle: Option<QueryHandle>,
    server: Option<LoopbackServer>,
    token: Option<String>,
    response: Option<Response>,
    sister: Option<Value>,
}

impl std::fmt::Debug for ContractWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractWorld")
            .field("dir", &self.dir.as_ref().map(|d| d.path().to_path_buf()))
            .field("handoff", &self.handoff)
            .field("spool", &self.spool)
            .field("data", &self.data.as_ref().map(|d| d.root.clone()))
            .field("last", &self.last)
            .field("response", &self.response)
            .finish_non_exhaustive()
    }
}

/// Names a value for messages: the JSON text.
fn show(value: &Value) -> String {
    value.to_string()
}

/// A quoted step argument as written in the file: `\"` stands for `"`.
fn unescape(text: &str) -> String {
    text.replace("\\\"", "\"")
}

/// Splits "a, b, c and d" into its items.
pub fn list_items(text: &str) -> Vec<String> {
    text.split(", ")
        .flat_map(|part| part.split(" and "))
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Files whose names mark them as temporary, anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name.contains("ingest-tmp") {
                out.push(path.clone());
            }
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out
}

/// Every regular file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A handoff database's table layout: (`canonical` | `canonical_alt_columns` | `legacy`,
/// table, id column, payload column).
fn layout_of(
    db: &Path,
) -> anyhow::Result<(&'static str, &'static str, &'static str, &'static str)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has = |sql: &str| -> anyhow::Result<bool> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? > 0)
    };
    if has("SELECT count(*) FROM sqlite_master WHERE name = 'records'")? {
        return Ok(("legacy", "records", "id", "json"));
    }
    if has("SELECT count(*) FROM pragma_table_info('metadata') WHERE name = 'record_id'")? {
        return Ok((
            "canonical_alt_columns",
            "metadata",
            "record_id",
            "payload_json",
        ));
    }
    Ok(("canonical", "metadata", "id", "payload"))
}

/// `(id, payload)` of every row of a handoff's or DataRoot's `metadata.db`, sorted by id.
fn rows_of(db: &Path) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let (_, table, id, payload) = layout_of(db)?;
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {id}, {payload} FROM {table} ORDER BY {id}"
    ))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The payload of a derived row, when it exists.
fn derived_payload(data: &DataRoot, id: &str) -> anyhow::Result<Option<Value>> {
    let conn = Connection::open_with_flags(data.derived_db(), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT payload FROM derived WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(serde_json::from_str(&row.get::<_, String>(0)?)?)),
        None => Ok(None),
    }
}

/// Sends one HTTP/1.1 request and reads the whole response (a body that is not JSON is null).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> anyhow::Result<Response> {
    let reply = Client::to(addr)
        .token(token)
        .timeout(Duration::from_secs(20))
        .send(method, path, body.as_bytes())?;
    Ok(Response {
        status: reply.status,
        body: reply.json().unwrap_or(Value::Null),
    })
}

impl ContractWorld {
    pub(super) fn settings(&mut self) -> anyhow::Result<Arc<Settings>> {
        if self.settings.is_none() {
            self.settings = installed();
        }
        self.settings
            .clone()
            .context("no feature settings installed: run the scenarios through features::run")
    }

    pub(super) fn dir(&mut self) -> anyhow::Result<PathBuf> {
        if self.dir.is_none() {
            let work = self.settings()?.work.clone();
            std::fs::create_dir_all(&work)?;
            self.dir = Some(
                tempfile::Builder::new()
                    .prefix("scenario-")
                    .tempdir_in(work)?,
            );
        }
        Ok(self
            .dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default())
    }

    pub(super) fn data(&mut self) -> anyhow::Result<DataRoot> {
        if self.data.is_none() {
            self.data = Some(DataRoot::new(self.dir()?.join("data")));
        }
        Ok(self.data.clone().unwrap_or_else(|| DataRoot::new("data")))
    }

    pub(super) fn handoff(&self) -> anyhow::Result<PathBuf> {
        self.handoff.clone().context("the scenario has no handoff")
    }

    pub(super) fn last(&self) -> anyhow::Result<&CommandResult> {
        self.last.as_ref().context("no command has run yet")
    }

    pub(super) fn response(&self) -> anyhow::Result<&Response> {
        self.response.as_ref().context("no request has been sent")
    }

    /// A private copy of the template handoff in `layout`, at `dir/<name>`.
    pub(super) fn copy_handoff(&mut self, layout: &str, name: &str) -> anyhow::Result<PathBuf> {
        let settings = self.settings()?;
        for handoff in settings.handoffs()? {
            if layout_of(&handoff.join("metadata.db"))?.0 == layout {
                let copy = self.dir()?.join(name);
                copy_tree(&handoff, &copy)?;
                return Ok(copy);
            }
        }
        bail!("the template spool has no handoff in the {layout:?} layout")
    }

    /// Records the DataRoot's digest (when it exists) for "the DataRoot is unchanged".
    pub(super) fn remember_data_root(&mut self) -> anyhow::Result<()> {
        let data = self.data()?;
        if self.before.is_none() && data.root.is_dir() {
            self.before = Some(digest(&data.root)?);
        }
        Ok(())
    }

    /// Runs the real `autocapture` with `args`, a 60 s limit, `TZ=UTC` and `LC_ALL=C`.
    pub(super) fn autocapture(&mut self, args: &[String]) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let mut child = Command::new(&settings.autocapture_bin)
            .args(args)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env_remove("AUTOCAPTURE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("run {}", settings.autocapture_bin.display()))?;
        let mut stdout_pipe = child.stdout.take().context("no stdout pipe")?;
        let mut stderr_pipe = child.stderr.take().context("no stderr pipe")?;
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout_pipe.read_to_string(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            s
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "`autocapture {}` was still running after 60 s",
                    args.join(" ")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        self.last = Some(CommandResult {
            args: args.to_vec(),
            exit: status.code().unwrap_or(-1),
            json: serde_json::from_str(stdout.trim()).ok(),
            stdout,
            stderr,
        });
        Ok(())
    }
}
