//! The reference adapter: the producer side of the contract built from this repository's own
//! parts, behind `autocapture-gates conform reference <verb>` (`fixtures/conform/reference.toml`
//! names the commands). The producer is the fixture generator (a capture session is the workday
//! story played back with the input's seed, run id and frame count; each call moves one of its
//! handoffs into place), the popup client is the harness's HTTP client, and the reaper is
//! [`super::reaper`]. Each verb can plant one fault (`--plant`), so that the planted adapters of
//! `fixtures/conform/planted/` show that `conform hypervisor` catches it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use autocapture_core::base::durable::write_atomic;
use autocapture_core::contract::sha256_hex;
use autocapture_core::stage1::drain::list_handoffs;
use rusqlite::Connection;
use serde_json::{Value, json};

use super::adapter::{CAPTURE_SCHEMA, CaptureInput};
use crate::corpus::generate::{GenerateOptions, generate};
use crate::corpus::story::Story;
use crate::probe::http::Client;

/// Faults `write-handoff` can plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum WritePlant {
    /// The first frame's `content_hash` is not the sha256 of its blob.
    WrongContentHash,
    /// Every record id is stored as a BLOB instead of TEXT.
    NonTextIds,
}

/// Faults `close-handoff` can plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ClosePlant {
    /// The handoff is moved into the spool first and written to afterwards: its database is
    /// left open in WAL mode (a `metadata.db-wal` beside it).
    MoveBeforeClose,
}

/// Faults `popup` can plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PopupPlant {
    /// The request carries no `Authorization` header.
    NoToken,
    /// The request goes to this machine's first address other than 127.0.0.1, same port.
    OffLoopback,
}

/// What the user is doing, for the activity signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ActivityState {
    Idle,
    Active,
}

/// The table, id column and payload column of a handoff database's layout.
fn columns(conn: &Connection) -> anyhow::Result<(&'static str, &'static str, &'static str)> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    if count("SELECT count(*) FROM sqlite_master WHERE name = 'records'")? > 0 {
        return Ok(("records", "id", "json"));
    }
    if count("SELECT count(*) FROM pragma_table_info('metadata') WHERE name = 'record_id'")? > 0 {
        return Ok(("metadata", "record_id", "payload_json"));
    }
    Ok(("metadata", "id", "payload"))
}

/// Reads and checks the `{input}` of `write_handoff`.
pub fn read_input(path: &Path) -> anyhow::Result<CaptureInput> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the capture input {}", path.display()))?;
    let input: CaptureInput = serde_json::from_str(&text)
        .with_context(|| format!("parse the capture input {}", path.display()))?;
    ensure!(
        input.schema == CAPTURE_SCHEMA,
        "the capture input's schema is {:?}, not {CAPTURE_SCHEMA}",
        input.schema
    );
    ensure!(
        !input.run_id.is_empty() && !input.run_id.contains('/'),
        "run_id {:?} must be non-empty and hold no /",
        input.run_id
    );
    let session = input.session;
    ensure!(
        session.frames >= 1
            && session.handoffs >= 1
            && u64::from(session.handoffs) <= session.frames
            && input.handoff_index < session.handoffs,
        "the session ({} frames, {} handoffs) has no handoff {}",
        session.frames,
        session.handoffs,
        input.handoff_index
    );
    Ok(input)
}

/// `write_handoff`: writes handoff `handoff_index` of the input's capture session at `handoff`
/// (which must not exist), and the UIA fallback into `data_dir` when asked.
pub fn write_handoff(
    input_path: &Path,
    handoff: &Path,
    data_dir: Option<&Path>,
    plant: Option<WritePlant>,
) -> anyhow::Result<Value> {
    let input = read_input(input_path)?;
    ensure!(
        !handoff.exists(),
        "{} exists: a handoff is written once",
        handoff.display()
    );
    let parent = handoff
        .parent()
        .context("the handoff path has no parent folder")?;
    std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".reference-session-")
        .tempdir_in(parent)?;
    let mut story = Story::default_story()?;
    story.day.run_id = input.run_id.clone();
    let session = scratch.path().join("session");
    generate(
        &story,
        &GenerateOptions {
            out: session.clone(),
            seed: input.session.seed,
            frames: input.session.frames,
            handoffs: input.session.handoffs,
        },
    )?;
    let written = list_handoffs(&session)?;
    let chosen = written
        .get(input.handoff_index as usize)
        .context("the generator wrote fewer handoffs than asked")?;
    std::fs::rename(chosen, handoff)
        .with_context(|| format!("move the handoff to {}", handoff.display()))?;
    let conn = Connection::open(handoff.join("metadata.db"))?;
    let (table, id, payload) = columns(&conn)?;
    match plant {
        Some(WritePlant::WrongContentHash) => {
            let (frame_id, text): (String, String) = conn.query_row(
                &format!("SELECT {id}, {payload} FROM {table} WHERE record_type = 'evidence.capture.frame' ORDER BY {id} LIMIT 1"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut frame: Value = serde_json::from_str(&text)?;
            frame["content_hash"] = json!(sha256_hex(b""));
            conn.execute(
                &format!("UPDATE {table} SET {payload} = ?1 WHERE {id} = ?2"),
                rusqlite::params![frame.to_string(), frame_id],
            )?;
        }
        Some(WritePlant::NonTextIds) => {
            conn.execute(&format!("UPDATE {table} SET {id} = CAST({id} AS BLOB)"), [])?;
        }
        None => {}
    }
    let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    let mut fallback = Value::Null;
    if input.fallback_snapshot {
        let data_dir = data_dir.context("the input asks for the UIA fallback: give --data-dir")?;
        let snapshot: Vec<u8> = conn.query_row(
            &format!("SELECT CAST({payload} AS BLOB) FROM {table} WHERE record_type = 'evidence.uia.snapshot' ORDER BY ts_utc DESC, {id} DESC LIMIT 1"),
            [],
            |r| r.get(0),
        ).context("the handoff holds no UIA snapshot to keep as the fallback")?;
        let uia = data_dir.join("uia");
        std::fs::create_dir_all(&uia)?;
        write_atomic(&uia, "latest.snap.json", &snapshot)?;
        let sidecar = format!("{}  latest.snap.json\n", sha256_hex(&snapshot));
        write_atomic(&uia, "latest.snap.sha256", sidecar.as_bytes())?;
        fallback = json!(uia.join("latest.snap.json"));
    }
    conn.close().map_err(|(_, e)| e)?;
    Ok(json!({"ok": true, "handoff": handoff, "rows": rows, "fallback": fallback}))
}

/// `close_handoff`: makes the handoff durable and moves it into the spool as `name` (the
/// handoff's own folder name by default).
pub fn close_handoff(
    handoff: &Path,
    spool: &Path,
    name: Option<&str>,
    plant: Option<ClosePlant>,
) -> anyhow::Result<Value> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => handoff
            .file_name()
            .context("the handoff path has no folder name")?
            .to_string_lossy()
            .into_owned(),
    };
    std::fs::create_dir_all(spool).with_context(|| format!("create {}", spool.display()))?;
    let target = spool.join(&name);
    ensure!(!target.exists(), "{} exists already", target.display());
    let sync = |path: &Path| -> anyhow::Result<()> {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("fsync {}", path.display()))
    };
    if plant == Some(ClosePlant::MoveBeforeClose) {
        std::fs::rename(handoff, &target)?;
        let conn = Connection::open(target.join("metadata.db"))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA user_version=1;")?;
        // The planted fault: the writer is still open when the handoff is offered (its WAL
        // stays beside the database when this process ends).
        std::mem::forget(conn);
        return Ok(json!({"ok": true, "handoff": target}));
    }
    sync(&handoff.join("metadata.db"))?;
    sync(handoff)?;
    std::fs::rename(handoff, &target)
        .with_context(|| format!("move {} into the spool", handoff.display()))?;
    sync(spool)?;
    Ok(json!({"ok": true, "handoff": target}))
}

/// `refresh_activity`: writes the activity signal at `signal` (atomically) every `every`, until
/// the process is stopped, or once.
pub fn refresh_activity(
    signal: &Path,
    state: ActivityState,
    every: Duration,
    once: bool,
) -> anyhow::Result<()> {
    let dir = signal.parent().context("the signal path has no folder")?;
    let name = signal
        .file_name()
        .context("the signal path has no file name")?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let active = state == ActivityState::Active;
    for seq in 1u64.. {
        let now = time::OffsetDateTime::now_utc();
        let body = json!({
            "ts_utc": autocapture_core::contract::format_ts_utc(now),
            "idle_seconds": if active { 0 } else { 600 },
            "user_active": active,
            "source": "autocapture-gates.conform.reference",
            "seq": seq,
        });
        write_atomic(dir, &name, format!("{body}\n").as_bytes())
            .with_context(|| format!("write {}", signal.display()))?;
        if once {
            break;
        }
        std::thread::sleep(every);
    }
    Ok(())
}

/// `base` (`http://host:port[/prefix]`) with its host replaced by `ip`.
fn with_host(base: &str, ip: std::net::IpAddr) -> anyhow::Result<String> {
    let rest = base
        .strip_prefix("http://")
        .context("the popup URL is not http://")?;
    let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr: SocketAddr = host_port
        .parse()
        .with_context(|| format!("the popup URL's {host_port:?} is not an address:port"))?;
    let moved = SocketAddr::new(ip, addr.port());
    Ok(if path.is_empty() {
        format!("http://{moved}")
    } else {
        format!("http://{moved}/{path}")
    })
}

/// `popup_request`: asks `question` at the popup server `url` with its bearer token (the first
/// word of `token_file`, else fetched from `/api/auth/token`); the status and the answer.
pub fn popup(
    url: &str,
    question: &str,
    token_file: Option<&Path>,
    plant: Option<PopupPlant>,
) -> anyhow::Result<(u16, Value)> {
    let mut base = url.trim_end_matches('/').to_owned();
    if plant == Some(PopupPlant::OffLoopback) {
        let ip = *super::addresses::off_loopback_addresses()
            .first()
            .context("this machine has no address other than 127.0.0.1")?;
        base = with_host(&base, ip)?;
    }
    let token = match (plant, token_file) {
        (Some(PopupPlant::NoToken), _) => None,
        (_, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("read the token file {}", file.display()))?
                .split_whitespace()
                .next()
                .context("the token file is empty")?
                .to_owned(),
        ),
        (_, None) => {
            let reply = Client::url(&base).get("/api/auth/token")?;
            let token = reply
                .json()
                .and_then(|j| j["token"].as_str().map(str::to_owned));
            match token {
                Some(token) => Some(token),
                None => bail!(
                    "GET /api/auth/token answered {} without a token",
                    reply.status
                ),
            }
        }
    };
    let reply = Client::url(&base)
        .token(token.as_deref())
        .timeout(Duration::from_secs(20))
        .post_json("/api/query/popup", &json!({"query": question}))?;
    let body = reply.json().unwrap_or(Value::String(reply.body));
    Ok((reply.status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_a_url_is_replaced_and_its_port_kept() {
        let ip: std::net::IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(
            with_host("http://127.0.0.1:8787", ip).expect("url"),
            "http://192.0.2.2:8787"
        );
        let v6: std::net::IpAddr = "::1".parse().expect("ip");
        assert_eq!(
            with_host("http://127.0.0.1:9/x", v6).expect("url"),
            "http://[::1]:9/x"
        );
        assert!(with_host("https://127.0.0.1:9", ip).is_err());
    }
}
