//! The parsers and entry points that take outside bytes, one function per target, each taking
//! one input and running it through the real core code. The property runs, the proptest tests
//! and the `cargo fuzz` targets (`fuzz/`) all call these, so a crash found by one replays in the
//! others.
//!
//! A target answers with an [`Outcome`]: accepted, rejected with the core's stable code, or
//! crashed (a panic seen on the far side of a socket). A panic in-process is not caught here:
//! the callers catch it (`catch_unwind`) or, under libFuzzer, it is the crash report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use crate::probe::raw::send_bytes;
use crate::probe::server::LoopbackServer;
use anyhow::Context;
use autocapture_core::activity::read_state;
use autocapture_core::base::clock::SteppingClock;
use autocapture_core::contract::{canonical_json, sha256_hex};
use autocapture_core::handoff::{HandoffRow, media_refs, normalize_media_ref};
use autocapture_core::query::{QueryHandle, QueryOptions, answer, language, lexer};
use autocapture_core::stage1::derive::{Deriver, UiaState};
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::store::DataRoot;
use autocapture_core::uia::{
    FallbackFiles, Lookup, SnapshotLookup, UiaSettings, build_docs, resolve_snapshot, uia_ref,
    validate_doc,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::corpus::build::BUILD_TIME;

/// The instant the targets that need a clock run at.
pub const TARGET_TIME: OffsetDateTime = datetime!(2026-02-21 02:00:00 UTC);
/// The snapshot the fixed frame of [`uia_snapshot`] names.
pub const SNAPSHOT_REF_ID: &str = "run1/evidence.uia.snapshot/0";
/// The content hash the fixed frame of [`uia_snapshot`] expects.
pub const SNAPSHOT_REF_HASH: &str =
    "5b7f0a1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8";
/// The frame id every payload target derives under.
const FRAME_ID: &str = "run1/evidence.capture.frame/0";

/// What a target did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The input was taken (an answer, an ingest, a derivation).
    Accepted,
    /// The input was refused with this stable code.
    Rejected(String),
    /// A panic seen from outside the process part that had it (a server task that died or
    /// answered `query_panicked`), with what was seen.
    Crashed(String),
    /// The input was taken with a reap marker whose promise does not hold: what the DataRoot
    /// lacks or holds differently.
    Broken(String),
}

impl Outcome {
    /// `ok`, the rejection code, `crashed` or `promise_broken`.
    pub fn code(&self) -> &str {
        match self {
            Outcome::Accepted => "ok",
            Outcome::Rejected(code) => code,
            Outcome::Crashed(_) => "crashed",
            Outcome::Broken(_) => "promise_broken",
        }
    }

    fn rejected(code: &str) -> Outcome {
        Outcome::Rejected(code.to_owned())
    }
}

static PANICS_SEEN: AtomicU64 = AtomicU64::new(0);
static COUNT_PANICS: Once = Once::new();

/// Counts every panic of the process from now on (in any thread, caught or not), then hands it
/// to the hook that was there before. The server's tasks run on their own threads: a panic there
/// shows only as a dropped connection, and this count tells the two apart.
pub fn count_panics() {
    COUNT_PANICS.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS_SEEN.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Panics counted since [`count_panics`] was first called.
pub fn panics_seen() -> u64 {
    PANICS_SEEN.load(Ordering::SeqCst)
}

/// Every target, by the name its fuzz target, corpus folder and case carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    MetadataDb,
    PayloadJson,
    UiaSnapshot,
    ActivitySignal,
    QueryText,
    PopupBody,
    HttpRequest,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::MetadataDb,
        Target::PayloadJson,
        Target::UiaSnapshot,
        Target::ActivitySignal,
        Target::QueryText,
        Target::PopupBody,
        Target::HttpRequest,
    ];

    /// The snake_case name of the fuzz target and of its corpus folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::MetadataDb => "metadata_db",
            Target::PayloadJson => "payload_json",
            Target::UiaSnapshot => "uia_snapshot",
            Target::ActivitySignal => "activity_signal",
            Target::QueryText => "query_text",
            Target::PopupBody => "popup_body",
            Target::HttpRequest => "http_request",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// True when the target needs an indexed DataRoot (and, for the HTTP targets, a server).
    pub fn needs_fixture(self) -> bool {
        matches!(
            self,
            Target::QueryText | Target::PopupBody | Target::HttpRequest
        )
    }

    /// Runs one input. `fixture` must be given for the targets that [`needs_fixture`].
    ///
    /// [`needs_fixture`]: Target::needs_fixture
    pub fn run(self, fixture: Option<&ServedFixture>, bytes: &[u8]) -> anyhow::Result<Outcome> {
        let served = || fixture.context("this target needs a served fixture");
        Ok(match self {
            Target::MetadataDb => metadata_db(bytes),
            Target::PayloadJson => payload_json(bytes),
            Target::UiaSnapshot => uia_snapshot(bytes),
            Target::ActivitySignal => activity_signal(bytes),
            Target::QueryText => query_text(&served()?.query, bytes),
            Target::PopupBody => popup_body(served()?, bytes),
            Target::HttpRequest => http_request(served()?, bytes),
        })
    }
}

/// Where the fuzz targets build their served fixture when the environment names a folder (the
/// slow-mode runs put it in their work folder, which they own); otherwise a temp folder.
pub const FUZZ_FIXTURE_ENV: &str = "AUTOCAPTURE_FUZZ_FIXTURE";

/// The process-wide served fixture of the fuzz targets, built on first use (seed 1).
fn fuzz_fixture() -> &'static ServedFixture {
    static FIXTURE: std::sync::OnceLock<(Option<tempfile::TempDir>, ServedFixture)> =
        std::sync::OnceLock::new();
    let (_, served) = FIXTURE.get_or_init(|| {
        // Without its fixture a fuzz run cannot start: failing loudly here is the only answer.
        let (temp, dir) = match std::env::var_os(FUZZ_FIXTURE_ENV) {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                let _ = std::fs::remove_dir_all(&dir);
                (None, dir)
            }
            None => {
                let temp = tempfile::tempdir().expect("a temp folder for the fuzz fixture");
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let served = ServedFixture::start(&dir, 1).expect("the fuzz fixture starts");
        (temp, served)
    });
    served
}

/// One libFuzzer input: runs `target` and panics on a crash seen across the socket, so libFuzzer
/// keeps the input as it does for an in-process panic.
pub fn fuzz_one(target: Target, bytes: &[u8]) {
    let fixture = target.needs_fixture().then(fuzz_fixture);
    match target.run(fixture, bytes) {
        Ok(Outcome::Crashed(seen) | Outcome::Broken(seen)) => panic!("{}: {seen}", target.name()),
        Ok(_) => {}
        Err(e) => panic!("{}: the harness failed: {e:#}", target.name()),
    }
}

/// `bytes` as a handoff's `metadata.db`, ingested by the real Stage 1 (non-strict, so rows with
/// media the handoff lacks still go through) into a fresh DataRoot. An accepted input has a reap
/// marker, whose promise is then checked: every row exactly as the handoff holds it.
pub fn metadata_db(bytes: &[u8]) -> Outcome {
    let Ok(dir) = tempfile::tempdir() else {
        return Outcome::rejected("harness_temp_dir");
    };
    let handoff = dir.path().join("handoff");
    if std::fs::create_dir_all(&handoff)
        .and_then(|()| std::fs::write(handoff.join("metadata.db"), bytes))
        .is_err()
    {
        return Outcome::rejected("harness_write");
    }
    let data = DataRoot::new(dir.path().join("data"));
    let options = IngestOptions {
        strict: false,
        ..IngestOptions::default()
    };
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::milliseconds(1));
    match ingest_handoff(&handoff, &data, &options, &clock) {
        Ok(_) => match super::promise::broken(&handoff, &data.root) {
            Ok(broken) if broken.is_empty() => Outcome::Accepted,
            Ok(broken) => Outcome::Broken(broken.join("; ")),
            Err(e) => Outcome::Broken(format!("the promise could not be checked: {e:#}")),
        },
        Err(e) => Outcome::rejected(e.code()),
    }
}

/// A snapshot store that answers every id with one valid snapshot carrying that id and `hash`.
struct AnySnapshot {
    hash: String,
}

impl SnapshotLookup for AnySnapshot {
    fn lookup(&self, record_id: &str) -> Lookup {
        let snapshot = json!({
            "record_type": "evidence.uia.snapshot", "record_id": record_id, "content_hash": self.hash,
            "hwnd": "0x1A2B", "window": {"title": "Editor", "process_path": "C:/apps/editor.exe", "pid": 42},
            "focus_path": [{"eid": "e1", "role": "edit", "name": "body", "rect": [0, 0, 640, 480], "enabled": true, "offscreen": false}],
            "context_peers": [{"eid": "e2", "role": "button", "name": "Save", "rect": [10, 10, 90, 40]}],
            "operables": [{"eid": "e3", "role": "menu", "name": "File", "rect": [-5, 1e9, 20, 30]},
                          {"eid": "e4", "role": "pane", "name": "Huge", "rect": [0, 0, 1e300, 1.8e19]}],
        });
        Lookup::Found(snapshot.to_string().into_bytes())
    }
}

/// A snapshot store holding exactly one payload under [`SNAPSHOT_REF_ID`].
struct OneSnapshot<'a> {
    bytes: &'a [u8],
}

impl SnapshotLookup for OneSnapshot<'_> {
    fn lookup(&self, record_id: &str) -> Lookup {
        if record_id == SNAPSHOT_REF_ID {
            Lookup::Found(self.bytes.to_vec())
        } else {
            Lookup::Missing
        }
    }
}

/// A fallback folder that does not exist: lookups that miss find no fallback.
fn no_fallback() -> PathBuf {
    PathBuf::from("/nonexistent/autocapture-uia-fallback")
}

/// `bytes` as a record payload, through what Stage 1 does with one: parsed as the row's JSON
/// object, its media refs found and normalised, its canonical form, and the frame derivation
/// (Stage-1 marker, UIA docs from a store that holds a valid snapshot for any ref).
pub fn payload_json(bytes: &[u8]) -> Outcome {
    let row = HandoffRow {
        id: FRAME_ID.into(),
        record_type: Some("evidence.capture.frame".into()),
        ts_utc: None,
        run_id: None,
        values: autocapture_core::handoff::RowValues {
            payload: autocapture_core::handoff::Cell::Text(bytes.to_vec()),
            ..Default::default()
        },
    };
    let Some(object) = row.payload_object() else {
        return Outcome::rejected("payload_not_object");
    };
    let value = Value::Object(object);
    let mut unsafe_refs = 0;
    for reference in media_refs(&value) {
        if normalize_media_ref(&reference.raw).is_err() {
            unsafe_refs += 1;
        }
    }
    // Computed for its own sake (Stage 1 hashes what it derives, never the source payload).
    let _ = canonical_json(&value);
    let hash = uia_ref(&value).map(|(_, hash)| hash).unwrap_or_default();
    let mut deriver = Deriver::new(UiaSettings::default(), no_fallback());
    let derivation = deriver.frame(
        FRAME_ID,
        None,
        None,
        &value,
        "2026-02-21T02:00:00.000000Z",
        &AnySnapshot { hash },
    );
    if unsafe_refs > 0 {
        return Outcome::rejected("media_ref_unsafe");
    }
    match derivation.uia {
        UiaState::Missing(no_docs) => Outcome::rejected(no_docs.code),
        UiaState::Docs { valid: false } => Outcome::rejected("uia_docs_invalid"),
        UiaState::NoRef | UiaState::Docs { valid: true } => Outcome::Accepted,
    }
}

/// The fixed frame whose snapshot [`uia_snapshot`] varies.
fn snapshot_frame() -> Value {
    json!({
        "schema_version": 1, "record_type": "evidence.capture.frame", "run_id": "run1",
        "ts_utc": "2026-02-20T10:00:00.000000Z", "width": 1920, "height": 1080,
        "blob_path": "media/run1/frame0.blob", "content_hash": SNAPSHOT_REF_HASH,
        "uia_ref": {"record_id": SNAPSHOT_REF_ID, "content_hash": SNAPSHOT_REF_HASH},
        "input_ref": {"record_id": "run1/evidence.input.batch/0"},
    })
}

/// `bytes` as the UIA snapshot payload a fixed frame names: through the metadata path (the
/// deriver: resolve, build the three docs, validate them) and through the fallback path (the
/// bytes as `uia/latest.snap.json` with a matching sidecar).
pub fn uia_snapshot(bytes: &[u8]) -> Outcome {
    let frame = snapshot_frame();
    let settings = UiaSettings::default();
    let mut deriver = Deriver::new(settings.clone(), no_fallback());
    let derivation = deriver.frame(
        FRAME_ID,
        None,
        None,
        &frame,
        "2026-02-21T02:00:00.000000Z",
        &OneSnapshot { bytes },
    );
    let fallback = || FallbackFiles {
        snapshot: Some(bytes.to_vec()),
        sidecar: Some(format!("{}  latest.snap.json\n", sha256_hex(bytes)).into_bytes()),
    };
    let fallback_settings = UiaSettings {
        allow_latest_snapshot_fallback: true,
        ..settings.clone()
    };
    if let Ok((snapshot, _)) = resolve_snapshot(
        &frame,
        &OneSnapshot { bytes: b"" },
        &fallback,
        &fallback_settings,
    ) && let Ok(docs) = build_docs(FRAME_ID, &frame, &snapshot, &settings)
    {
        for doc in &docs {
            let _ = validate_doc(doc, &frame);
        }
    }
    match derivation.uia {
        UiaState::Missing(no_docs) => Outcome::rejected(no_docs.code),
        UiaState::Docs { valid: false } => Outcome::rejected("uia_docs_invalid"),
        UiaState::Docs { valid: true } => Outcome::Accepted,
        UiaState::NoRef => Outcome::rejected("uia_ref_missing"),
    }
}

/// `bytes` as `activity/activity_signal.json`, read by the real gate at [`TARGET_TIME`].
pub fn activity_signal(bytes: &[u8]) -> Outcome {
    let Ok(dir) = tempfile::tempdir() else {
        return Outcome::rejected("harness_temp_dir");
    };
    let path = dir.path().join("activity_signal.json");
    if std::fs::write(&path, bytes).is_err() {
        return Outcome::rejected("harness_write");
    }
    let state = read_state(Some(&path), TARGET_TIME, 5);
    if state.idle {
        Outcome::Accepted
    } else {
        Outcome::rejected(state.reason)
    }
}

/// An indexed DataRoot and one read-only handle on it.
pub struct QueryFixture {
    pub data: DataRoot,
    handle: Mutex<QueryHandle>,
}

impl QueryFixture {
    /// Generates a small corpus (seed `seed`) under `dir`, ingests and indexes it, opens a handle.
    pub fn build(dir: &Path, seed: u64) -> anyhow::Result<QueryFixture> {
        let (data, _) = crate::corpus::build::indexed(dir, seed, 120, 1)?;
        let handle = QueryHandle::open(&data).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
        Ok(QueryFixture {
            data,
            handle: Mutex::new(handle),
        })
    }
}

/// `bytes` (lossily decoded) as a query: parsed, its intent, and answered by the engine.
pub fn query_text(fixture: &QueryFixture, bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(parsed) = lexer::parse(&text) {
        let _ = language::intent(&parsed);
    }
    // A panic in an earlier input leaves the lock poisoned; the handle itself is still whole.
    let handle = fixture
        .handle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match answer(&handle, &text, &QueryOptions::default()) {
        Ok(_) => Outcome::Accepted,
        Err(e) => Outcome::rejected(e.code()),
    }
}

/// A query fixture served by a real popup server on an ephemeral loopback port.
pub struct ServedFixture {
    pub query: QueryFixture,
    pub server: LoopbackServer,
}

impl ServedFixture {
    /// Builds a [`QueryFixture`] under `dir` and starts the server on `127.0.0.1:0`.
    pub fn start(dir: &Path, seed: u64) -> anyhow::Result<ServedFixture> {
        count_panics();
        let query = QueryFixture::build(dir, seed)?;
        let server = LoopbackServer::start(&query.data, autocapture_core::server::POPUP_TIMEOUT)?;
        Ok(ServedFixture { query, server })
    }

    /// Stops the server and waits for it; its error, if it ended with one.
    pub fn stop(self) -> anyhow::Result<()> {
        self.server.stop()
    }
}

/// How long a hostile request waits for the server's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// The status line's code and, for a JSON error body, its `error.code`.
pub fn judge_response(response: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(response);
    // hyper answers an HTTP/1.0 request in HTTP/1.0.
    let Some(status) = ["HTTP/1.1 ", "HTTP/1.0 "]
        .iter()
        .find_map(|version| text.strip_prefix(version))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
    else {
        return Outcome::Crashed(format!("no HTTP response ({} bytes back)", response.len()));
    };
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let code = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
    match (status, code) {
        (200, _) => Outcome::Accepted,
        (_, Some(code)) if code == "query_panicked" => Outcome::Crashed(code),
        (500..=599, code) => {
            Outcome::Crashed(format!("http_{status} {}", code.unwrap_or_default()))
        }
        (_, Some(code)) => Outcome::Rejected(code),
        (_, None) => Outcome::Rejected(format!("http_{status}")),
    }
}

/// `bytes` as the body of an authorised `POST /api/query/popup`, over a real socket.
pub fn popup_body(served: &ServedFixture, bytes: &[u8]) -> Outcome {
    let head = format!(
        "POST /api/query/popup HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        served.server.addr,
        served.server.token,
        bytes.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(bytes);
    let before = panics_seen();
    match send_bytes(served.server.addr, &request, false, ANSWER_WAIT) {
        Ok(response) => judge_response(&response),
        Err(e) if panics_seen() > before => Outcome::Crashed(e.to_string()),
        Err(e) => Outcome::Rejected(format!("transport: {e}")),
    }
}

/// `bytes` as a whole HTTP request (request line, headers, body) sent to the server as they are.
/// `{token}` in the input is replaced by the server's token, so authorised requests are reachable.
/// The write side is half-closed after the request; the server still answers it, and closes at
/// once a request cut short: `connection_closed`.
pub fn http_request(served: &ServedFixture, bytes: &[u8]) -> Outcome {
    let request = replace_all(bytes, b"{token}", served.server.token.as_bytes());
    let before = panics_seen();
    let outcome = match send_bytes(served.server.addr, &request, true, ANSWER_WAIT) {
        // hyper closes a connection it cannot parse without a response: a refusal, not a crash,
        // unless a panic happened meanwhile.
        Ok(response) if response.is_empty() => Outcome::rejected("connection_closed"),
        Ok(response) => judge_response(&response),
        Err(e) => Outcome::Rejected(format!("transport: {e}")),
    };
    match outcome {
        Outcome::Rejected(code) if panics_seen() > before => {
            Outcome::Crashed(format!("{code} after a panic in the server"))
        }
        other => other,
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}
