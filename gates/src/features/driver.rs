//! What the scenario steps do. Every operation uses the real core (ingest, marker, UIA, query,
//! the popup server on a real loopback socket, the audit log) or the real `autocapture` binary,
//! on private copies of a generated spool in a temp dir; every expectation returns an error that
//! says what was expected and what was found.
//!
//! A run first calls [`install`] with its [`Settings`]; each scenario's [`ContractWorld`] starts
//! from them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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
use autocapture_core::server::{BoundServer, DEFAULT_BIND, POPUP_TIMEOUT, TOKEN_FILE, check_bind};
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::stage2::{Stage2Options, run_stage2};
use autocapture_core::store::DataRoot;
use autocapture_core::store::lock_data_root;
use autocapture_core::uia::{Section, doc_id};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::contract::schemas::ContractSet;
use crate::dataroot::{DataRootDigest, digest};
use crate::fixtures::build::BUILD_TIME;
use crate::gates::support::copy_tree;

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
    fn handoffs(&self) -> anyhow::Result<Vec<PathBuf>> {
        Ok(autocapture_core::stage1::drain::list_handoffs(
            &self.template_spool,
        )?)
    }

    /// The indexed template DataRoot, built once: every handoff ingested, then Stage 2 under an
    /// idle signal, with clocks fixed at [`BUILD_TIME`].
    fn indexed(&self) -> anyhow::Result<PathBuf> {
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
        crate::fixtures::build::write_idle_signal(&data)?;
        run_stage2(
            &data,
            &Stage2Options {
                activity_signal: None,
                fresh_seconds: 5,
            },
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

    fn json(&self) -> anyhow::Result<&Value> {
        self.json.as_ref().with_context(|| {
            format!(
                "`autocapture {}` printed no JSON document: {}{}",
                self.args.join(" "),
                self.stdout,
                self.stderr
            )
        })
    }

    fn describe(&self) -> String {
        format!(
            "`autocapture {}` exited {} (stdout {}; stderr {})",
            self.args.join(" "),
            self.exit,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// A popup server on a loopback port, served on its own thread until dropped.
pub struct ServerHandle {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
    server: Option<ServerHandle>,
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

/// Sends one HTTP/1.1 request and reads the whole response.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in {raw:?}"))?;
    let body = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok(Response { status, body })
}

impl ContractWorld {
    fn settings(&mut self) -> anyhow::Result<Arc<Settings>> {
        if self.settings.is_none() {
            self.settings = installed();
        }
        self.settings
            .clone()
            .context("no feature settings installed: run the scenarios through features::run")
    }

    fn dir(&mut self) -> anyhow::Result<PathBuf> {
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

    fn data(&mut self) -> anyhow::Result<DataRoot> {
        if self.data.is_none() {
            self.data = Some(DataRoot::new(self.dir()?.join("data")));
        }
        Ok(self.data.clone().unwrap_or_else(|| DataRoot::new("data")))
    }

    fn handoff(&self) -> anyhow::Result<PathBuf> {
        self.handoff.clone().context("the scenario has no handoff")
    }

    fn last(&self) -> anyhow::Result<&CommandResult> {
        self.last.as_ref().context("no command has run yet")
    }

    fn response(&self) -> anyhow::Result<&Response> {
        self.response.as_ref().context("no request has been sent")
    }

    /// A private copy of the template handoff in `layout`, at `dir/<name>`.
    fn copy_handoff(&mut self, layout: &str, name: &str) -> anyhow::Result<PathBuf> {
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
    fn remember_data_root(&mut self) -> anyhow::Result<()> {
        let data = self.data()?;
        if self.before.is_none() && data.root.is_dir() {
            self.before = Some(digest(&data.root)?);
        }
        Ok(())
    }

    /// Runs the real `autocapture` with `args`, a 60 s limit, `TZ=UTC` and `LC_ALL=C`.
    fn autocapture(&mut self, args: &[String]) -> anyhow::Result<()> {
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

    // ---- handoffs and ingest ----

    pub fn generated_handoff(&mut self, layout: &str) -> anyhow::Result<()> {
        self.handoff = Some(self.copy_handoff(layout, "handoff")?);
        Ok(())
    }

    pub fn data_root_holds_another_handoff(&mut self) -> anyhow::Result<()> {
        let other = self.copy_handoff("legacy", "other-handoff")?;
        let data = self.data()?;
        ingest_handoff(&other, &data, &IngestOptions::default(), &SystemClock)?;
        Ok(())
    }

    pub fn a_spool(&mut self) -> anyhow::Result<()> {
        let spool = self.dir()?.join("spool");
        for handoff in self.settings()?.handoffs()? {
            copy_tree(
                &handoff,
                &spool.join(handoff.file_name().context("a handoff without a name")?),
            )?;
        }
        self.spool = Some(spool);
        Ok(())
    }

    fn spool_handoffs(&self) -> anyhow::Result<Vec<PathBuf>> {
        Ok(autocapture_core::stage1::drain::list_handoffs(
            self.spool.as_ref().context("the scenario has no spool")?,
        )?)
    }

    pub fn ingested_handoff(&mut self) -> anyhow::Result<()> {
        self.generated_handoff("canonical")?;
        let (handoff, data) = (self.handoff()?, self.data()?);
        ingest_handoff(&handoff, &data, &IngestOptions::default(), &SystemClock)?;
        Ok(())
    }

    pub fn indexed_data_root(&mut self) -> anyhow::Result<()> {
        let template = self.settings()?.indexed()?;
        let data = self.data()?;
        copy_tree(&template, &data.root)?;
        Ok(())
    }

    pub fn missing_data_dir(&mut self) -> anyhow::Result<()> {
        self.data = Some(DataRoot::new(self.dir()?.join("no-such-data-dir")));
        Ok(())
    }

    fn ingest_path(&mut self, handoff: &Path) -> anyhow::Result<()> {
        self.remember_data_root()?;
        let data = self.data()?;
        self.autocapture(&[
            "handoff".into(),
            "ingest".into(),
            "--handoff-root".into(),
            handoff.display().to_string(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ])
    }

    pub fn ingest(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        self.ingest_path(&handoff)
    }

    pub fn ingest_second(&mut self) -> anyhow::Result<()> {
        let handoff = self
            .second_handoff
            .clone()
            .context("the scenario has no second handoff")?;
        self.ingest_path(&handoff)
    }

    pub fn ingest_every_handoff(&mut self) -> anyhow::Result<()> {
        for handoff in self.spool_handoffs()? {
            self.ingest_path(&handoff)?;
            self.command_succeeds()?;
        }
        Ok(())
    }

    pub fn handoff_has_been_ingested(&mut self) -> anyhow::Result<()> {
        self.ingest()?;
        self.command_succeeds()?;
        self.first_marker = Some(self.marker_json(&self.handoff()?)?);
        self.last = None;
        Ok(())
    }

    pub fn remove_metadata_db(&mut self) -> anyhow::Result<()> {
        std::fs::remove_file(self.handoff()?.join("metadata.db"))?;
        Ok(())
    }

    pub fn second_handoff_without_metadata(&mut self) -> anyhow::Result<()> {
        let second = self.copy_handoff("legacy", "second-handoff")?;
        std::fs::remove_file(second.join("metadata.db"))?;
        self.second_handoff = Some(second);
        Ok(())
    }

    pub fn metadata_db_is_text(&mut self) -> anyhow::Result<()> {
        std::fs::write(
            self.handoff()?.join("metadata.db"),
            b"this is not a database, just text",
        )?;
        Ok(())
    }

    pub fn metadata_db_has_neither_table(&mut self) -> anyhow::Result<()> {
        let db = self.handoff()?.join("metadata.db");
        std::fs::remove_file(&db)?;
        Connection::open(&db)?.execute_batch("CREATE TABLE events (x TEXT)")?;
        Ok(())
    }

    /// The first frame (by id) of the handoff: its table, id column, payload column, id, payload.
    fn first_frame(&self) -> anyhow::Result<(String, Value)> {
        let db = self.handoff()?.join("metadata.db");
        let (_, table, id, payload) = layout_of(&db)?;
        let conn = Connection::open(&db)?;
        let (frame_id, text): (String, String) = conn.query_row(
            &format!("SELECT {id}, {payload} FROM {table} WHERE record_type = 'evidence.capture.frame' ORDER BY {id} LIMIT 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((frame_id, serde_json::from_str(&text)?))
    }

    fn set_first_frame_payload(&self, frame: &Value) -> anyhow::Result<()> {
        let db = self.handoff()?.join("metadata.db");
        let (_, table, id, payload) = layout_of(&db)?;
        let (frame_id, _) = self.first_frame()?;
        let changed = Connection::open(&db)?.execute(
            &format!("UPDATE {table} SET {payload} = ?1 WHERE {id} = ?2"),
            [serde_json::to_string(frame)?, frame_id],
        )?;
        ensure!(changed == 1, "the first frame was not updated");
        Ok(())
    }

    pub fn set_first_frame_blob_path(&mut self, blob_path: &str) -> anyhow::Result<()> {
        let (_, mut frame) = self.first_frame()?;
        frame["blob_path"] = json!(blob_path);
        self.set_first_frame_payload(&frame)
    }

    fn first_frame_blob(&self) -> anyhow::Result<PathBuf> {
        let (_, frame) = self.first_frame()?;
        let blob = frame["blob_path"]
            .as_str()
            .context("the first frame has no blob_path")?
            .replace('\\', "/");
        let rel = blob
            .split_once("media/")
            .map(|(_, rest)| rest.to_owned())
            .context("the blob_path has no media/ part")?;
        Ok(self.handoff()?.join("media").join(rel))
    }

    pub fn plant_symlink(&mut self, target: &str) -> anyhow::Result<()> {
        std::os::unix::fs::symlink(target, self.handoff()?.join("media").join("planted.blob"))?;
        Ok(())
    }

    pub fn remove_first_blob(&mut self) -> anyhow::Result<()> {
        std::fs::remove_file(self.first_frame_blob()?)?;
        Ok(())
    }

    pub fn flip_first_blob_byte(&mut self) -> anyhow::Result<()> {
        let blob = self.first_frame_blob()?;
        let mut bytes = std::fs::read(&blob)?;
        let middle = bytes.len() / 2;
        let byte = bytes.get_mut(middle).context("the blob is empty")?;
        *byte ^= 0xff;
        // Replace rather than write in place: the blob may be hard-linked elsewhere.
        std::fs::remove_file(&blob)?;
        std::fs::write(&blob, bytes)?;
        Ok(())
    }

    pub fn hold_instance_lock(&mut self) -> anyhow::Result<()> {
        let data = self.data()?;
        data.create_dirs()?;
        self.lock = Some(lock_data_root(&data)?);
        Ok(())
    }

    // ---- command outcomes ----

    pub fn command_succeeds(&mut self) -> anyhow::Result<()> {
        let last = self.last()?;
        ensure!(last.exit == 0, "expected success, {}", last.describe());
        if let Some(json) = &last.json {
            ensure!(
                json["ok"] == json!(true),
                "expected \"ok\": true, {}",
                last.describe()
            );
        }
        Ok(())
    }

    pub fn command_fails_with(&mut self, exit: i32, code: &str) -> anyhow::Result<()> {
        let last = self.last()?;
        ensure!(
            last.exit == exit && last.error_code().as_deref() == Some(code),
            "expected exit {exit} with code {code:?}, {}",
            last.describe()
        );
        Ok(())
    }

    pub fn command_fails_with_prefix(&mut self, exit: i32, prefix: &str) -> anyhow::Result<()> {
        let last = self.last()?;
        ensure!(
            last.exit == exit
                && last
                    .error_code()
                    .is_some_and(|code| code.starts_with(prefix)),
            "expected exit {exit} with a code starting {prefix:?}, {}",
            last.describe()
        );
        Ok(())
    }

    pub fn data_root_unchanged(&mut self) -> anyhow::Result<()> {
        let before = self
            .before
            .clone()
            .context("the DataRoot did not exist before the action (nothing to compare)")?;
        let after = digest(&self.data()?.root)?;
        ensure!(
            before == after,
            "the DataRoot changed: before {before:?}, after {after:?}"
        );
        Ok(())
    }

    pub fn rows_unchanged(&mut self) -> anyhow::Result<()> {
        let handoff_rows = rows_of(&self.handoff()?.join("metadata.db"))?;
        let data_rows: std::collections::BTreeMap<String, Option<String>> =
            rows_of(&self.data()?.metadata_db())?.into_iter().collect();
        ensure!(!handoff_rows.is_empty(), "the handoff has no rows");
        for (id, payload) in &handoff_rows {
            match data_rows.get(id) {
                Some(found) if found == payload => {}
                Some(_) => bail!("row {id}: the DataRoot's payload bytes differ"),
                None => bail!("row {id} is missing from the DataRoot"),
            }
        }
        Ok(())
    }

    pub fn media_unchanged(&mut self) -> anyhow::Result<()> {
        let media = self.handoff()?.join("media");
        let data_media = self.data()?.media_dir();
        let files = files_under(&media)?;
        ensure!(!files.is_empty(), "the handoff has no media file");
        for rel in files {
            let copied = std::fs::read(data_media.join(&rel))
                .with_context(|| format!("media file {} in the DataRoot", rel.display()))?;
            ensure!(
                copied == std::fs::read(media.join(&rel))?,
                "media file {}: bytes differ",
                rel.display()
            );
        }
        Ok(())
    }

    pub fn ingest_reports_layout(&mut self, layout: &str) -> anyhow::Result<()> {
        let found = self.last()?.json()?["layout"].clone();
        ensure!(
            found == json!(layout),
            "expected layout {layout:?}, got {}",
            show(&found)
        );
        Ok(())
    }

    pub fn ingest_copied_rows(&mut self, rows: u64) -> anyhow::Result<()> {
        let found = self.last()?.json()?["counts"]["metadata_rows_copied"].clone();
        ensure!(
            found == json!(rows),
            "expected {rows} rows copied, got {}",
            show(&found)
        );
        Ok(())
    }

    pub fn record_ids_have_form(&mut self, form: &str) -> anyhow::Result<()> {
        ensure!(form == "{run_id}/{kind}/{seq}", "unknown id form {form:?}");
        let db = self.handoff()?.join("metadata.db");
        for (id, payload) in rows_of(&db)? {
            let payload: Value = serde_json::from_str(payload.as_deref().unwrap_or("null"))?;
            let parts: Vec<&str> = id.split('/').collect();
            let well_formed = parts.len() == 3
                && Some(parts[0]) == payload["run_id"].as_str()
                && Some(parts[1]) == payload["record_type"].as_str()
                && !parts[2].is_empty()
                && parts[2].bytes().all(|b| b.is_ascii_digit());
            ensure!(
                well_formed,
                "record id {id:?} is not run_id/record_type/seq of its payload"
            );
        }
        Ok(())
    }

    // ---- the marker ----

    fn marker_json(&self, handoff: &Path) -> anyhow::Result<Value> {
        let path = handoff.join(marker::MARKER_FILE);
        Ok(serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("read {}", path.display()))?,
        )?)
    }

    pub fn no_marker(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        ensure!(
            matches!(marker::read(&handoff), MarkerState::Missing),
            "the handoff has a marker after a failed ingest"
        );
        Ok(())
    }

    pub fn valid_marker(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        Self::valid_marker_at(&handoff)
    }

    fn valid_marker_at(handoff: &Path) -> anyhow::Result<()> {
        match marker::read(handoff) {
            MarkerState::Valid(m) => {
                ensure!(
                    m.schema == marker::MARKER_SCHEMA,
                    "marker schema {:?}",
                    m.schema
                );
                Ok(())
            }
            MarkerState::Missing => bail!("{} has no marker", handoff.display()),
            MarkerState::Invalid(why) => {
                bail!("{} has an invalid marker: {why}", handoff.display())
            }
        }
    }

    pub fn first_spool_handoff_valid_marker(&mut self) -> anyhow::Result<()> {
        let first = self
            .spool_handoffs()?
            .into_iter()
            .next()
            .context("empty spool")?;
        Self::valid_marker_at(&first)
    }

    pub fn marker_validates(&mut self, schema: &str) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        let set = ContractSet::load(&self.settings()?.workspace.join("contracts"))?;
        let errors = set.validate(schema, &marker)?;
        ensure!(
            errors.is_empty(),
            "the marker does not validate against {schema}: {errors:?}"
        );
        Ok(())
    }

    pub fn marker_paths_absolute(&mut self) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        for (key, expected) in [
            ("handoff_root", self.handoff()?),
            ("dest_data_root", self.data()?.root),
        ] {
            let path = PathBuf::from(marker[key].as_str().unwrap_or_default());
            ensure!(
                path.is_absolute(),
                "{key} {} is not absolute",
                path.display()
            );
            ensure!(
                std::fs::canonicalize(&path)? == std::fs::canonicalize(&expected)?,
                "{key} {} is not {}",
                path.display(),
                expected.display()
            );
        }
        Ok(())
    }

    pub fn marker_carries_contract_identity(&mut self, command: &str) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        self.run_words(&format!("{command} --json"))?;
        let shown = self.last()?.json()?.clone();
        for key in ["contract_version", "schema_hash"] {
            ensure!(
                marker[key].is_string() && marker[key] == shown[key],
                "marker {key} {} but `contract show` says {}",
                show(&marker[key]),
                show(&shown[key])
            );
        }
        Ok(())
    }

    pub fn no_temp_files(&mut self) -> anyhow::Result<()> {
        let mut found = temp_files(&self.handoff()?);
        found.extend(temp_files(&self.data()?.root));
        ensure!(found.is_empty(), "temporary files left: {found:?}");
        Ok(())
    }

    pub fn marker_counts_rows(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        let marker = self.marker_json(&handoff)?;
        let rows = rows_of(&handoff.join("metadata.db"))?.len() as u64;
        ensure!(
            marker["counts"]["metadata_rows_copied"] == json!(rows),
            "counts.metadata_rows_copied {} but the handoff has {rows} rows",
            show(&marker["counts"]["metadata_rows_copied"])
        );
        Ok(())
    }

    pub fn marker_digests_are_hex(&mut self) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        for key in ["rows_sha256", "media_sha256"] {
            let value = marker["integrity"][key].as_str().unwrap_or_default();
            ensure!(
                value.len() == 64
                    && value
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "integrity.{key} {value:?} is not 64 lowercase hex digits"
            );
        }
        Ok(())
    }

    pub fn marker_run_id_form(&mut self, form: &str) -> anyhow::Result<()> {
        ensure!(
            form == "ingest_YYYYMMDDTHHMMSSffffffZ",
            "unknown run id form {form:?}"
        );
        let marker = self.marker_json(&self.handoff()?)?;
        let id = marker["ingest_run_id"].as_str().unwrap_or_default();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ok = id.len() == 29
            && id.starts_with("ingest_")
            && digits(&id[7..15])
            && &id[15..16] == "T"
            && digits(&id[16..28])
            && id.ends_with('Z');
        ensure!(ok, "ingest_run_id {id:?} is not of the form {form}");
        Ok(())
    }

    pub fn marker_digests_kept(&mut self) -> anyhow::Result<()> {
        let first = self
            .first_marker
            .clone()
            .context("no marker of a first ingest")?;
        let now = self.marker_json(&self.handoff()?)?;
        ensure!(
            first["integrity"] == now["integrity"] && !now["integrity"].is_null(),
            "integrity changed: first {}, now {}",
            show(&first["integrity"]),
            show(&now["integrity"])
        );
        Ok(())
    }

    pub fn replace_first_marker(&mut self, text: &str) -> anyhow::Result<()> {
        let first = self
            .spool_handoffs()?
            .into_iter()
            .next()
            .context("empty spool")?;
        std::fs::write(first.join(marker::MARKER_FILE), unescape(text))?;
        Ok(())
    }

    // ---- the drain and the activity signal ----

    pub fn drain(&mut self, extra: &str) -> anyhow::Result<()> {
        self.refresh_signal()?;
        let spool = self.spool.clone().context("the scenario has no spool")?;
        let data = self.data()?;
        let mut args: Vec<String> = vec![
            "handoff".into(),
            "drain".into(),
            "--spool-root".into(),
            spool.display().to_string(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ];
        if let Some(signal) = &self.signal {
            args.extend(["--activity-signal".into(), signal.display().to_string()]);
        }
        args.extend(extra.split_whitespace().map(str::to_owned));
        self.autocapture(&args)
    }

    pub fn spool_drained(&mut self) -> anyhow::Result<()> {
        self.drain("")?;
        self.command_succeeds()?;
        self.last = None;
        Ok(())
    }

    fn drain_statuses(&self) -> anyhow::Result<Vec<(String, Value)>> {
        let json = self.last()?.json()?;
        Ok(json["handoffs"]
            .as_array()
            .context("the drain report lists no handoffs")?
            .iter()
            .map(|h| {
                (
                    h["name"].as_str().unwrap_or_default().to_owned(),
                    h["status"].clone(),
                )
            })
            .collect())
    }

    pub fn every_handoff_reported(&mut self, status: &str) -> anyhow::Result<()> {
        let statuses = self.drain_statuses()?;
        ensure!(
            statuses.len() == self.spool_handoffs()?.len(),
            "the drain reported {} handoffs",
            statuses.len()
        );
        for (name, found) in statuses {
            ensure!(
                found == json!(status),
                "handoff {name}: {} instead of {status:?}",
                show(&found)
            );
        }
        Ok(())
    }

    pub fn first_handoff_reported(&mut self, status: &str) -> anyhow::Result<()> {
        let (name, found) = self
            .drain_statuses()?
            .into_iter()
            .next()
            .context("the drain reported no handoff")?;
        ensure!(
            found == json!(status),
            "handoff {name}: {} instead of {status:?}",
            show(&found)
        );
        Ok(())
    }

    pub fn drain_state(&mut self, state: &str) -> anyhow::Result<()> {
        let found = self.last()?.json()?["state"].clone();
        ensure!(
            found == json!(state),
            "drain state {} instead of {state:?}; {}",
            show(&found),
            self.last()?.describe()
        );
        Ok(())
    }

    pub fn no_spool_marker(&mut self) -> anyhow::Result<()> {
        for handoff in self.spool_handoffs()? {
            ensure!(
                matches!(marker::read(&handoff), MarkerState::Missing),
                "{} has a marker",
                handoff.display()
            );
        }
        Ok(())
    }

    /// Writes the signal file from its spec, with times relative to now: called when the spec
    /// is set and again right before each command that reads it, so a slow step before the
    /// command cannot make a fresh signal stale.
    fn refresh_signal(&mut self) -> anyhow::Result<()> {
        let Some(spec) = self.signal_spec.clone() else {
            return Ok(());
        };
        let now = time::OffsetDateTime::now_utc();
        let text = match spec {
            SignalSpec::Aged {
                age_seconds,
                active,
            } => {
                let ts = (now - time::Duration::seconds(age_seconds))
                    .format(&time::format_description::well_known::Rfc3339)?;
                let idle_seconds = if active { 0 } else { 600 };
                format!(
                    r#"{{"ts_utc": "{ts}", "idle_seconds": {idle_seconds}, "user_active": {active}, "source": "features", "seq": 1}}"#
                )
            }
            SignalSpec::Text(text) => text.replace(
                "NOW",
                &now.format(&time::format_description::well_known::Rfc3339)?,
            ),
        };
        let path = self.dir()?.join("activity_signal.json");
        std::fs::write(&path, text)?;
        self.signal = Some(path);
        Ok(())
    }

    pub fn signal(&mut self, age_seconds: i64, active: bool) -> anyhow::Result<()> {
        self.signal_spec = Some(SignalSpec::Aged {
            age_seconds,
            active,
        });
        self.refresh_signal()
    }

    /// The signal is `text`, with `NOW` standing for the current time.
    pub fn signal_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.signal_spec = Some(SignalSpec::Text(unescape(text)));
        self.refresh_signal()
    }

    pub fn no_signal(&mut self) -> anyhow::Result<()> {
        self.signal = None;
        self.signal_spec = None;
        let data = self.data()?;
        for path in [
            data.root.join("activity").join("activity_signal.json"),
            data.root.join("activity_signal.json"),
        ] {
            ensure!(!path.exists(), "{} exists", path.display());
        }
        Ok(())
    }

    pub fn stage2(&mut self) -> anyhow::Result<()> {
        self.refresh_signal()?;
        let data = self.data()?;
        let mut args: Vec<String> = vec![
            "stage2".into(),
            "run".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ];
        if let Some(signal) = &self.signal {
            args.extend(["--activity-signal".into(), signal.display().to_string()]);
        }
        self.autocapture(&args)
    }

    pub fn stage2_state(&mut self, state: &str, reason: &str) -> anyhow::Result<()> {
        let json = self.last()?.json()?;
        ensure!(
            json["state"] == json!(state) && json["activity"]["reason"] == json!(reason),
            "expected state {state:?} for {reason:?}, got {} for {}",
            show(&json["state"]),
            show(&json["activity"]["reason"])
        );
        Ok(())
    }

    pub fn stage2_processed_some(&mut self) -> anyhow::Result<()> {
        let n = self.last()?.json()?["frames_processed"]
            .as_u64()
            .unwrap_or(0);
        ensure!(n > 0, "Stage 2 processed no frame");
        Ok(())
    }

    pub fn stage2_processed_none(&mut self) -> anyhow::Result<()> {
        let found = self.last()?.json()?["frames_processed"].clone();
        ensure!(
            found == json!(0),
            "Stage 2 processed {} frames",
            show(&found)
        );
        Ok(())
    }

    // ---- UIA ----

    fn first_snapshot(&mut self) -> anyhow::Result<(String, Value)> {
        if self.snapshot.is_none() {
            self.snapshot = Some(crate::gates::uia_gate::first_snapshot(&self.handoff()?)?);
        }
        self.snapshot.clone().context("no snapshot")
    }

    fn write_fallback(&mut self, bytes: &[u8], sidecar: &str) -> anyhow::Result<()> {
        let dir = self.data()?.root.join("uia");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("latest.snap.json"), bytes)?;
        std::fs::write(dir.join("latest.snap.sha256"), sidecar)?;
        Ok(())
    }

    pub fn decoy_fallback(&mut self, title: &str) -> anyhow::Result<()> {
        let (_, mut decoy) = self.first_snapshot()?;
        decoy["window"]["title"] = json!(title);
        let bytes = serde_json::to_vec(&decoy)?;
        self.write_fallback(&bytes, &sha256_hex(&bytes))
    }

    pub fn delete_snapshot_row(&mut self) -> anyhow::Result<()> {
        let (id, _) = self.first_snapshot()?;
        let n = Connection::open(self.handoff()?.join("metadata.db"))?
            .execute("DELETE FROM metadata WHERE id = ?1", [&id])?;
        ensure!(n == 1, "snapshot row {id} not deleted");
        Ok(())
    }

    pub fn snapshot_row_record_type(&mut self, record_type: &str) -> anyhow::Result<()> {
        let (id, _) = self.first_snapshot()?;
        let n = Connection::open(self.handoff()?.join("metadata.db"))?.execute(
            "UPDATE metadata SET payload = json_set(payload, '$.record_type', ?1) WHERE id = ?2",
            [record_type, &id],
        )?;
        ensure!(n == 1, "snapshot row {id} not updated");
        Ok(())
    }

    pub fn deleted_snapshot_as_fallback(&mut self, matching: bool) -> anyhow::Result<()> {
        let (_, snapshot) = self.first_snapshot()?;
        let bytes = serde_json::to_vec(&snapshot)?;
        let sidecar = if matching {
            sha256_hex(&bytes)
        } else {
            sha256_hex(b"other bytes")
        };
        self.write_fallback(&bytes, &sidecar)
    }

    fn first_focus_doc(&mut self) -> anyhow::Result<Option<Value>> {
        let (id, _) = self.first_snapshot()?;
        let data = self.data()?;
        derived_payload(&data, &doc_id(&id, Section::Focus))
    }

    pub fn focus_doc_has_metadata_title(&mut self) -> anyhow::Result<()> {
        let (id, snapshot) = self.first_snapshot()?;
        let doc = self
            .first_focus_doc()?
            .with_context(|| format!("no focus doc for snapshot {id}"))?;
        ensure!(
            doc["window_title"] == snapshot["window"]["title"] && doc["window_title"].is_string(),
            "focus doc title {} instead of the snapshot's {}",
            show(&doc["window_title"]),
            show(&snapshot["window"]["title"])
        );
        Ok(())
    }

    pub fn no_focus_doc(&mut self) -> anyhow::Result<()> {
        if let Some(doc) = self.first_focus_doc()? {
            bail!(
                "the first frame has a focus doc titled {}",
                show(&doc["window_title"])
            );
        }
        Ok(())
    }

    pub fn uia_problem(&mut self, code: &str) -> anyhow::Result<()> {
        let problems = self.last()?.json()?["uia_problems"].clone();
        ensure!(
            problems[code].as_u64().unwrap_or(0) > 0,
            "uia_problems {} has no {code:?}",
            show(&problems)
        );
        Ok(())
    }

    /// Every frame with a `uia_ref` of the DataRoot and its three docs.
    fn frames_and_docs(&mut self) -> anyhow::Result<Vec<FrameDocs>> {
        let data = self.data()?;
        let conn =
            Connection::open_with_flags(data.metadata_db(), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut stmt = conn.prepare(
            "SELECT payload FROM metadata WHERE record_type = 'evidence.capture.frame' ORDER BY id",
        )?;
        let frames = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for text in frames {
            let frame: Value = serde_json::from_str(&text)?;
            let Some(uia_id) = frame["uia_ref"]["record_id"].as_str().map(str::to_owned) else {
                continue;
            };
            let mut docs = Vec::new();
            for section in [Section::Focus, Section::Context, Section::Operable] {
                let id = doc_id(&uia_id, section);
                let doc = derived_payload(&data, &id)?
                    .with_context(|| format!("frame with uia_ref {uia_id}: no doc {id}"))?;
                docs.push((section, id, doc));
            }
            out.push((frame, docs));
        }
        ensure!(!out.is_empty(), "no frame with a uia_ref");
        Ok(out)
    }

    pub fn every_frame_has_docs(&mut self) -> anyhow::Result<()> {
        self.frames_and_docs().map(|_| ())
    }

    pub fn doc_ids_follow_recipe(&mut self) -> anyhow::Result<()> {
        use base64::Engine;
        for (_, docs) in self.frames_and_docs()? {
            for (section, id, doc) in docs {
                let uia_id = doc["uia_record_id"].as_str().unwrap_or_default();
                let run = uia_id.split_once('/').map_or("run", |(run, _)| run);
                let seed = format!("uia-{uia_id}-{}-0", section.name());
                let expected = format!(
                    "{run}/derived.sst.text/extra/rid_{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed.as_bytes())
                );
                ensure!(id == expected, "doc id {id} is not the recipe's {expected}");
            }
        }
        Ok(())
    }

    pub fn docs_link_to_uia_ref(&mut self) -> anyhow::Result<()> {
        for (frame, docs) in self.frames_and_docs()? {
            for (_, id, doc) in docs {
                ensure!(
                    doc["uia_record_id"] == frame["uia_ref"]["record_id"]
                        && doc["uia_content_hash"] == frame["uia_ref"]["content_hash"],
                    "doc {id} links to {} / {}, its frame's uia_ref is {}",
                    show(&doc["uia_record_id"]),
                    show(&doc["uia_content_hash"]),
                    show(&frame["uia_ref"])
                );
            }
        }
        Ok(())
    }

    pub fn docs_validate(&mut self, schema: &str) -> anyhow::Result<()> {
        let set = ContractSet::load(&self.settings()?.workspace.join("contracts"))?;
        for (_, docs) in self.frames_and_docs()? {
            for (_, id, doc) in docs {
                let errors = set.validate(schema, &doc)?;
                ensure!(errors.is_empty(), "doc {id}: {errors:?}");
            }
        }
        Ok(())
    }

    pub fn bboxes_inside_frames(&mut self) -> anyhow::Result<()> {
        for (frame, docs) in self.frames_and_docs()? {
            let (w, h) = autocapture_core::uia::frame_dims(&frame).context("frame without dims")?;
            for (_, id, doc) in docs {
                for node in doc["meta"]["uia_nodes"].as_array().into_iter().flatten() {
                    let b: Vec<u64> = node["bbox"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    ensure!(
                        b.len() == 4 && b[2] >= b[0] && b[3] >= b[1] && b[2] <= w && b[3] <= h,
                        "doc {id}: bbox {} is not ordered inside {w}x{h}",
                        show(&node["bbox"])
                    );
                }
            }
        }
        Ok(())
    }

    pub fn focus_doc_id_vector(&mut self, uia_id: &str, expected: &str) -> anyhow::Result<()> {
        let found = doc_id(uia_id, Section::Focus);
        ensure!(
            found == expected,
            "focus doc id {found} instead of {expected}"
        );
        Ok(())
    }

    // ---- query ----

    pub fn open_handle(&mut self) -> anyhow::Result<()> {
        self.remember_data_root()?;
        let data = self.data()?;
        self.handle = Some(QueryHandle::open(&data)?);
        Ok(())
    }

    pub fn write_through_handle_fails(&mut self, sql: &str) -> anyhow::Result<()> {
        let handle = self.handle.as_ref().context("no query handle")?;
        if let Ok(n) = handle.try_execute(sql) {
            bail!("{sql:?} through the query handle succeeded ({n} rows)");
        }
        Ok(())
    }

    pub fn ask(&mut self, question: &str) -> anyhow::Result<()> {
        if self.handle.is_none() {
            self.open_handle()?;
        }
        let handle = self.handle.as_ref().context("no query handle")?;
        query::answer(handle, question, &QueryOptions::default())
            .with_context(|| format!("answer {question:?}"))?;
        Ok(())
    }

    pub fn counters_zero(&mut self) -> anyhow::Result<()> {
        let handle = self.handle.as_ref().context("no query handle")?;
        let values = handle.counters.values();
        ensure!(
            values.query_extractor_launch_total == 0
                && values.query_schedule_extract_requests_total == 0
                && values.query_raw_media_reads_total == 0,
            "counters {values:?}"
        );
        Ok(())
    }

    pub fn ask_cli(&mut self, question: &str) -> anyhow::Result<()> {
        let data = self.data()?;
        self.autocapture(&[
            "query".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
            question.into(),
        ])
    }

    pub fn answer_state(&mut self, state: &str) -> anyhow::Result<()> {
        let found = self.last()?.json()?["state"].clone();
        ensure!(
            found == json!(state),
            "answer state {} instead of {state:?}; {}",
            show(&found),
            self.last()?.describe()
        );
        Ok(())
    }

    pub fn citations_name_records(&mut self) -> anyhow::Result<()> {
        let citations = self.last()?.json()?["citations"].clone();
        let list = citations.as_array().context("no citations list")?;
        ensure!(!list.is_empty(), "an ok answer without citations");
        for c in list {
            ensure!(
                c["record_id"].as_str().is_some_and(|s| !s.is_empty())
                    && c["record_type"].as_str().is_some_and(|s| !s.is_empty()),
                "citation {} names no record",
                show(c)
            );
        }
        Ok(())
    }

    pub fn answer_needs_processing(&mut self) -> anyhow::Result<()> {
        let json = self.last()?.json()?;
        ensure!(
            json["needs_processing"] == json!(true),
            "needs_processing {}",
            show(&json["needs_processing"])
        );
        Ok(())
    }

    // ---- the popup server ----

    pub fn popup_server(&mut self) -> anyhow::Result<()> {
        self.indexed_data_root()?;
        let data = self.data()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve_data = data.clone();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match BoundServer::bind(&serve_data, "127.0.0.1:0", POPUP_TIMEOUT, &SystemClock)
                    .await
                {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok(server.addr));
                        let _ = server
                            .run(async {
                                let _ = stopped.await;
                            })
                            .await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("bind: {e}")));
                    }
                }
            });
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .context("the server did not start")??;
        self.server = Some(ServerHandle {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        });
        self.token = Some(
            std::fs::read_to_string(data.root.join(TOKEN_FILE))?
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
        self.before = None;
        self.remember_data_root()
    }

    fn server_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.server.as_ref().context("no server is running")?.addr)
    }

    pub fn post_popup(&mut self, body: &str, token: Option<&str>) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        self.response = Some(http(
            addr,
            "POST",
            "/api/query/popup",
            token,
            &unescape(body),
        )?);
        Ok(())
    }

    pub fn post_popup_with_server_token(&mut self, body: &str) -> anyhow::Result<()> {
        let token = self.token.clone().context("no server token")?;
        self.post_popup(body, Some(&token))
    }

    pub fn get(&mut self, path: &str) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        let token = self.token.clone();
        self.response = Some(http(addr, "GET", path, token.as_deref(), "")?);
        Ok(())
    }

    pub fn status_is(&mut self, status: u16) -> anyhow::Result<()> {
        let response = self.response()?;
        ensure!(
            response.status == status,
            "status {} instead of {status}; body {}",
            response.status,
            show(&response.body)
        );
        Ok(())
    }

    pub fn response_has_fields(&mut self, fields: &str) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        let missing: Vec<String> = list_items(fields)
            .into_iter()
            .filter(|f| body.get(f).is_none())
            .collect();
        ensure!(
            missing.is_empty(),
            "fields {missing:?} missing from {}",
            show(body)
        );
        Ok(())
    }

    pub fn citations_have_fields(&mut self, fields: &str) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        let citations = body["citations"].as_array().context("no citations list")?;
        ensure!(
            !citations.is_empty(),
            "the answer has no citation: {}",
            show(body)
        );
        for c in citations {
            let missing: Vec<String> = list_items(fields)
                .into_iter()
                .filter(|f| c.get(f).is_none())
                .collect();
            ensure!(missing.is_empty(), "citation {} lacks {missing:?}", show(c));
        }
        Ok(())
    }

    pub fn citations_between(&mut self, above: usize, at_most: usize) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        let found = body["citations"].as_array().map_or(0, Vec::len);
        ensure!(
            found > above && found <= at_most,
            "{found} citations, expected more than {above} and at most {at_most}: {}",
            show(body)
        );
        Ok(())
    }

    pub fn needs_processing_false(&mut self) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        ensure!(
            body["needs_processing"] == json!(false),
            "needs_processing {}",
            show(&body["needs_processing"])
        );
        Ok(())
    }

    pub fn response_token_is_servers(&mut self) -> anyhow::Result<()> {
        let token = self.token.clone().context("no server token")?;
        let found = self.response()?.body["token"].clone();
        ensure!(
            found == json!(token),
            "token {} is not the server's",
            show(&found)
        );
        Ok(())
    }

    pub fn no_route_deletes(&mut self, paths: &str) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        let token = self.token.clone();
        for path in list_items(paths) {
            for method in ["DELETE", "PUT"] {
                let status = http(addr, method, &path, token.as_deref(), "{}")?.status;
                ensure!(status == 405, "{method} {path}: {status} instead of 405");
            }
        }
        Ok(())
    }

    // ---- binding ----

    pub fn default_bind_is(&mut self, bind: &str) -> anyhow::Result<()> {
        ensure!(DEFAULT_BIND == bind, "the default bind is {DEFAULT_BIND}");
        Ok(())
    }

    pub fn default_bind_loopback(&mut self) -> anyhow::Result<()> {
        let addr = check_bind(DEFAULT_BIND)?;
        ensure!(addr.ip().is_loopback(), "{addr} is not loopback");
        Ok(())
    }

    pub fn server_on_loopback(&mut self) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        ensure!(addr.ip().is_loopback(), "the server listens on {addr}");
        let health = http(addr, "GET", "/health", None, "")?;
        ensure!(health.status == 200, "GET /health: {}", health.status);
        Ok(())
    }

    pub fn serve(&mut self, bind: Option<&str>) -> anyhow::Result<()> {
        let data = self.data()?;
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
        ];
        if let Some(bind) = bind {
            args.extend(["--bind".into(), bind.into()]);
        }
        if let Some(config) = &self.config {
            args.extend(["--config".into(), config.display().to_string()]);
        }
        self.autocapture(&args)
    }

    pub fn config_file(&mut self, text: &str) -> anyhow::Result<()> {
        let path = self.dir()?.join("config.json");
        std::fs::write(&path, unescape(text))?;
        self.config = Some(path);
        Ok(())
    }

    // ---- the audit chain ----

    fn audit_lines(&mut self) -> anyhow::Result<Vec<Value>> {
        let path = self
            .data()?
            .root
            .join(autocapture_core::audit::AUDIT_FILE_NAME);
        std::fs::read_to_string(&path)
            .with_context(|| format!("read {}", path.display()))?
            .lines()
            .map(|line| Ok(serde_json::from_str(line)?))
            .collect()
    }

    pub fn one_ingest_line_per_handoff(
        &mut self,
        action: &str,
        outcome: &str,
    ) -> anyhow::Result<()> {
        let lines = self.audit_lines()?;
        let handoffs = self.spool_handoffs()?.len();
        let found = lines
            .iter()
            .filter(|l| l["action"] == json!(action) && l["outcome"] == json!(outcome))
            .count();
        ensure!(
            found == handoffs && handoffs > 0,
            "{found} {action:?} lines with outcome {outcome:?} for {handoffs} handoffs"
        );
        Ok(())
    }

    pub fn chain_links(&mut self) -> anyhow::Result<()> {
        let lines = self.audit_lines()?;
        let mut prev = Value::Null;
        for (idx, line) in lines.iter().enumerate() {
            ensure!(
                line["prev_hash"] == prev,
                "line {}: prev_hash {} instead of {}",
                idx + 1,
                show(&line["prev_hash"]),
                show(&prev)
            );
            prev = line["hash"].clone();
        }
        Ok(())
    }

    pub fn verify_audit(&mut self) -> anyhow::Result<()> {
        let data = self.data()?;
        self.autocapture(&[
            "audit".into(),
            "verify".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ])
    }

    pub fn last_audit_line(
        &mut self,
        action: &str,
        outcome: &str,
        equal: bool,
    ) -> anyhow::Result<()> {
        let lines = self.audit_lines()?;
        let last = lines.last().context("the audit log is empty")?;
        ensure!(
            last["action"] == json!(action) && ((last["outcome"] == json!(outcome)) == equal),
            "last audit line: action {} outcome {}",
            show(&last["action"]),
            show(&last["outcome"])
        );
        Ok(())
    }

    pub fn audit_log_of(&mut self, n: usize) -> anyhow::Result<()> {
        let data = self.data()?;
        std::fs::create_dir_all(&data.root)?;
        let log = AuditLog::in_data_root(&data.root);
        for idx in 0..n {
            log.append(
                &AuditEvent {
                    action: "handoff.ingest".into(),
                    actor: "features".into(),
                    outcome: "ok".into(),
                    details: json!({"handoff": format!("h{idx}")}),
                },
                BUILD_TIME + time::Duration::seconds(idx as i64),
            )?;
        }
        Ok(())
    }

    fn edit_audit(
        &mut self,
        edit: impl FnOnce(&mut Vec<String>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let path = self
            .data()?
            .root
            .join(autocapture_core::audit::AUDIT_FILE_NAME);
        let text = std::fs::read_to_string(&path)?;
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        edit(&mut lines)?;
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(&path, out)?;
        Ok(())
    }

    pub fn change_audit_outcome(&mut self, line: usize, outcome: &str) -> anyhow::Result<()> {
        self.edit_audit(|lines| {
            let target = lines.get_mut(line - 1).context("no such line")?;
            ensure!(
                target.contains("\"outcome\":\"ok\""),
                "line {line} has no ok outcome"
            );
            *target = target.replace("\"outcome\":\"ok\"", &format!("\"outcome\":\"{outcome}\""));
            Ok(())
        })
    }

    pub fn delete_audit_line(&mut self, line: usize) -> anyhow::Result<()> {
        self.edit_audit(|lines| {
            ensure!(line >= 1 && line <= lines.len(), "no line {line}");
            lines.remove(line - 1);
            Ok(())
        })
    }

    pub fn tear_audit_tail(&mut self, bytes: usize) -> anyhow::Result<()> {
        let path = self
            .data()?
            .root
            .join(autocapture_core::audit::AUDIT_FILE_NAME);
        let mut text = std::fs::read(&path)?;
        ensure!(text.len() > bytes, "the log is shorter than {bytes} bytes");
        text.truncate(text.len() - bytes);
        std::fs::write(&path, text)?;
        Ok(())
    }

    pub fn error_names_line(&mut self, line: u64) -> anyhow::Result<()> {
        let found = self.last()?.json()?["error"]["line"].clone();
        ensure!(
            found == json!(line),
            "the error names line {} instead of {line}",
            show(&found)
        );
        Ok(())
    }

    // ---- the contract identity ----

    pub fn sister_document(&mut self, path: &str) -> anyhow::Result<()> {
        let file = self.settings()?.workspace.join(path);
        self.sister = Some(serde_json::from_str(
            &std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?,
        )?);
        Ok(())
    }

    pub fn run_words(&mut self, command: &str) -> anyhow::Result<()> {
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        ensure!(
            words.first().map(String::as_str) == Some("autocapture"),
            "not an autocapture command: {command}"
        );
        self.autocapture(&words[1..])
    }

    pub fn identity_matches_sister(&mut self) -> anyhow::Result<()> {
        let sister = self.sister.clone().context("no sister document")?;
        let shown = self.last()?.json()?.clone();
        for key in ["contract_version", "schema_hash"] {
            ensure!(
                shown[key].is_string() && shown[key] == sister[key],
                "{key}: ours {}, the sister's {}",
                show(&shown[key]),
                show(&sister[key])
            );
        }
        Ok(())
    }
}
