//! Seeded, structure-aware input generators for the property runs: one per target of
//! [`super::targets`]. Each takes the run's RNG and gives one input; the same seed gives the same
//! inputs. They mix inputs shaped like the real thing (a valid `metadata.db` with bytes flipped
//! or rows rewritten, frame and snapshot payloads with hostile fields) with plain noise.

use std::path::Path;

use anyhow::Context;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::targets::{SNAPSHOT_REF_HASH, SNAPSHOT_REF_ID, Target};

/// The valid inputs mutations start from.
pub struct Bases {
    /// `metadata.db` files of a small generated spool, one per table layout.
    pub metadata_dbs: Vec<Vec<u8>>,
}

impl Bases {
    /// Generates a three-handoff spool of a few frames under `dir` and reads its databases.
    pub fn build(dir: &Path, seed: u64) -> anyhow::Result<Bases> {
        let (_, handoffs) = crate::corpus::build::spool(dir, seed, 6, 3)?;
        let metadata_dbs = handoffs
            .iter()
            .map(|h| {
                let path = h.join("metadata.db");
                std::fs::read(&path).with_context(|| format!("read {}", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Bases { metadata_dbs })
    }
}

/// One input for `target`.
pub fn input(target: Target, rng: &mut ChaCha8Rng, bases: &Bases, work: &Path) -> Vec<u8> {
    match target {
        Target::MetadataDb => metadata_db(rng, bases, work),
        Target::PayloadJson => payload_json(rng),
        Target::UiaSnapshot => uia_snapshot(rng),
        Target::ActivitySignal => activity_signal(rng),
        Target::QueryText => query_text(rng).into_bytes(),
        Target::PopupBody => popup_body(rng),
        Target::HttpRequest => http_request(rng),
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn noise(rng: &mut ChaCha8Rng, max_len: usize) -> Vec<u8> {
    let len = rng.random_range(0..=max_len);
    (0..len).map(|_| rng.random::<u8>()).collect()
}

/// Flips, truncates, overwrites or splices the bytes of `bytes`.
fn mutate_bytes(rng: &mut ChaCha8Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.is_empty() {
        return noise(rng, 64);
    }
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..=8) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => bytes.truncate(rng.random_range(0..bytes.len())),
        2 => {
            let at = rng.random_range(0..bytes.len());
            let fill = *pick(rng, &[0x00u8, 0xFF, 0x7F, 0x80]);
            let end = (at + rng.random_range(1..=16)).min(bytes.len());
            bytes[at..end].fill(fill);
        }
        3 => {
            // A whole page (or the header page) zeroed or set to noise.
            let page = 4096.min(bytes.len());
            let start = rng.random_range(0..bytes.len() / page) * page;
            let zero = rng.random_bool(0.5);
            let end = (start + page).min(bytes.len());
            for b in &mut bytes[start..end] {
                *b = if zero { 0 } else { rng.random() };
            }
        }
        4 => {
            let at = rng.random_range(0..bytes.len());
            let chunk = noise(rng, 256);
            bytes.splice(at..at, chunk);
        }
        _ => {
            // The header's page size, page count and schema cookie fields.
            let fields = [16usize, 28, 40, 44, 56];
            let at = *pick(rng, &fields);
            if at + 4 <= bytes.len() {
                let random: u32 = rng.random();
                let value = *pick(rng, &[0, 1, 512, 65536, u32::MAX, random]);
                bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
    }
    bytes
}

/// Statements that leave a valid SQLite file with hostile content.
const SQL_EDITS: [&str; 14] = [
    "UPDATE {t} SET {p} = NULL",
    "UPDATE {t} SET {p} = X'00FFFE80'",
    "UPDATE {t} SET {p} = '{\"a\":' || {p}",
    "UPDATE {t} SET {p} = 12345",
    "UPDATE {t} SET {p} = 1.5e308",
    "UPDATE {t} SET {i} = NULL WHERE rowid % 2 = 0",
    "UPDATE {t} SET {i} = '' WHERE rowid % 3 = 0",
    "UPDATE {t} SET {p} = replace({p}, 'media/', 'media/../../')",
    "UPDATE {t} SET {p} = replace({p}, '\"width\":', '\"width\":18446744073709551615,\"w\":')",
    "UPDATE {t} SET {p} = replace({p}, '\"rect\":[', '\"rect\":[1e400,')",
    "DROP TABLE {t}",
    "ALTER TABLE {t} RENAME TO other_table",
    // The same rows in a table without column types (`{untyped}`: each column as `+c AS c`, which
    // has no affinity), so numbers and blobs keep their class.
    "CREATE TABLE untyped AS SELECT {untyped} FROM {t}; DROP TABLE {t}; ALTER TABLE untyped RENAME TO {t};
     UPDATE {t} SET {p} = CASE rowid % 4 WHEN 0 THEN 1e300 WHEN 1 THEN -7 WHEN 2 THEN X'7B7D' ELSE {p} END",
    "CREATE TABLE untyped AS SELECT {untyped} FROM {t}; DROP TABLE {t}; ALTER TABLE untyped RENAME TO {t};
     UPDATE {t} SET ts_utc = rowid, record_type = CAST(record_type AS BLOB) WHERE rowid % 3 = 0",
];

/// A copy of a base database with a row-level edit applied through SQLite.
fn sql_edit(rng: &mut ChaCha8Rng, base: &[u8], work: &Path) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir_in(work).ok()?;
    let path = dir.path().join("metadata.db");
    std::fs::write(&path, base).ok()?;
    let conn = rusqlite::Connection::open(&path).ok()?;
    let (table, id, payload) = if conn.prepare("SELECT payload FROM metadata LIMIT 1").is_ok() {
        ("metadata", "id", "payload")
    } else if conn
        .prepare("SELECT payload_json FROM metadata LIMIT 1")
        .is_ok()
    {
        ("metadata", "record_id", "payload_json")
    } else {
        ("records", "id", "json")
    };
    let columns: Vec<String> = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .ok()?
        .query_map([], |r| r.get(0))
        .ok()?
        .collect::<Result<_, _>>()
        .ok()?;
    let untyped = columns
        .iter()
        .map(|c| format!("+{c} AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    for _ in 0..rng.random_range(1..=2) {
        let sql = pick(rng, &SQL_EDITS)
            .replace("{untyped}", &untyped)
            .replace("{t}", table)
            .replace("{i}", id)
            .replace("{p}", payload);
        let _ = conn.execute_batch(&sql);
    }
    drop(conn);
    std::fs::read(&path).ok()
}

fn metadata_db(rng: &mut ChaCha8Rng, bases: &Bases, work: &Path) -> Vec<u8> {
    let base = pick(rng, &bases.metadata_dbs).clone();
    match rng.random_range(0..10) {
        0 => noise(rng, 4096),
        1 => {
            let mut header = b"SQLite format 3\0".to_vec();
            header.extend(noise(rng, 2048));
            header
        }
        2..=4 => sql_edit(rng, &base, work).unwrap_or(base),
        _ => mutate_bytes(rng, base),
    }
}

/// Strings that have broken parsers: odd unicode, escapes, traversal, NUL, huge and tiny.
fn hostile_string(rng: &mut ChaCha8Rng) -> String {
    let pieces = [
        "",
        " ",
        "media/../../etc/passwd",
        "C:\\\\Windows\\\\x",
        "/abs/path",
        "media/a\u{0}b",
        "\u{202e}gnp.exe",
        "e\u{301}",
        "\u{fffd}",
        "\u{1F600}",
        "NaN",
        "Infinity",
        "-0",
        "0x1A2B",
        "\\u0000",
        "\u{feff}",
        "run1/evidence.capture.frame/0",
        "evidence.uia.snapshot",
        "9999-12-31T23:59:59-23:59",
        "0000-01-01T00:00:00+23:59",
        "2026-02-20T10:00:00Z",
    ];
    let mut out = String::new();
    for _ in 0..rng.random_range(0..4) {
        out.push_str(pick::<&str>(rng, &pieces));
    }
    if rng.random_bool(0.05) {
        out.push_str(&"x".repeat(rng.random_range(1000..20_000)));
    }
    out
}

/// Numbers at the edges of what JSON and our integer fields hold.
fn hostile_number(rng: &mut ChaCha8Rng) -> Value {
    match rng.random_range(0..10) {
        0 => json!(u64::MAX),
        1 => json!(i64::MIN),
        2 => json!(1.7976931348623157e308),
        3 => json!(-1),
        4 => json!(0),
        5 => json!(f64::MIN_POSITIVE),
        6 => json!(rng.random::<u32>()),
        7 => json!(rng.random::<i64>()),
        8 => json!(rng.random::<f64>() * 1e12 - 5e11),
        _ => json!(rng.random_range(0..5000)),
    }
}

/// Any JSON value, at most `depth` levels deep.
fn any_value(rng: &mut ChaCha8Rng, depth: u32) -> Value {
    let leaf = depth == 0 || rng.random_bool(0.5);
    match (leaf, rng.random_range(0..5)) {
        (true, 0) => Value::Null,
        (true, 1) => json!(rng.random_bool(0.5)),
        (true, 2) => hostile_number(rng),
        (true, _) => json!(hostile_string(rng)),
        (false, 0 | 1) => Value::Array(
            (0..rng.random_range(0..5))
                .map(|_| any_value(rng, depth - 1))
                .collect(),
        ),
        (false, _) => {
            let mut map = Map::new();
            for _ in 0..rng.random_range(0..5) {
                map.insert(hostile_string(rng), any_value(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// A rect: four numbers, or something that is almost one.
fn rect(rng: &mut ChaCha8Rng) -> Value {
    match rng.random_range(0..8) {
        0 => json!([
            hostile_number(rng),
            hostile_number(rng),
            hostile_number(rng),
            hostile_number(rng)
        ]),
        1 => json!([1, 2, 3]),
        2 => json!(["NaN", "Infinity", 0, 0]),
        3 => json!([500, 400, 100, 50]),
        4 => any_value(rng, 2),
        _ => {
            let (l, t) = (rng.random_range(-100..2000), rng.random_range(-100..1200));
            json!([
                l,
                t,
                l + rng.random_range(0..800),
                t + rng.random_range(0..600)
            ])
        }
    }
}

fn node(rng: &mut ChaCha8Rng) -> Value {
    let mut node = json!({
        "eid": hostile_string(rng), "role": *pick(rng, &["edit", "button", "menu", "tab"]),
        "name": hostile_string(rng), "aid": "a1", "class": "C", "rect": rect(rng),
        "enabled": rng.random_bool(0.8), "offscreen": rng.random_bool(0.2),
    });
    if rng.random_bool(0.2) {
        node["hot"] = any_value(rng, 1);
    }
    if rng.random_bool(0.1) {
        node = any_value(rng, 3);
    }
    node
}

/// An array nested `depth` times around `inner`, as text (deeper than serde_json's limit when
/// `depth` is large, which must be refused, not overflow the stack).
fn nested_text(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Serialises `value`, sometimes with a byte-level mutation or a deep nesting in front.
fn finish_json(rng: &mut ChaCha8Rng, value: &Value) -> Vec<u8> {
    let text = value.to_string();
    match rng.random_range(0..12) {
        0 => mutate_bytes(rng, text.into_bytes()),
        1 => {
            let depth = *pick(rng, &[64usize, 127, 128, 129, 5000, 100_000]);
            let nested = nested_text(depth, "1");
            text.replacen('{', &format!("{{\"deep\":{nested},"), 1)
                .into_bytes()
        }
        2 => text.replacen(':', ":\"\\ud800\",\"x\":", 1).into_bytes(),
        3 => text.replacen("1", "1e999", 1).into_bytes(),
        _ => text.into_bytes(),
    }
}

fn payload_json(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.random_bool(0.05) {
        return noise(rng, 512);
    }
    let mut frame = json!({
        "schema_version": 1, "record_type": "evidence.capture.frame", "run_id": "run1",
        "ts_utc": hostile_string(rng),
        "width": hostile_number(rng), "height": hostile_number(rng),
        "blob_path": hostile_string(rng), "content_hash": SNAPSHOT_REF_HASH,
        "uia_ref": {"record_id": SNAPSHOT_REF_ID, "content_hash": SNAPSHOT_REF_HASH},
        "input_ref": {"record_id": "run1/evidence.input.batch/0"},
        "window_ref": {"record_id": "run1/evidence.window.meta/0", "window": {"title": hostile_string(rng), "rect": rect(rng)}},
    });
    let object = frame
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut kept = Map::new();
    for (key, value) in object {
        match rng.random_range(0..10) {
            0 => {}
            1 => {
                kept.insert(key, any_value(rng, 3));
            }
            _ => {
                kept.insert(key, value);
            }
        }
    }
    if rng.random_bool(0.3) {
        kept.insert(
            pick(
                rng,
                &[
                    "frame_width",
                    "frame_height",
                    "media_path",
                    "thumb_blob_path",
                ],
            )
            .to_string(),
            any_value(rng, 2),
        );
    }
    if rng.random_bool(0.2) {
        kept.insert("extra".into(), any_value(rng, 5));
    }
    finish_json(rng, &Value::Object(kept))
}

fn uia_snapshot(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.random_bool(0.05) {
        return noise(rng, 512);
    }
    let nodes = |rng: &mut ChaCha8Rng| -> Value {
        if rng.random_bool(0.1) {
            return any_value(rng, 2);
        }
        Value::Array((0..rng.random_range(0..12)).map(|_| node(rng)).collect())
    };
    let mut snapshot = json!({
        "schema_version": 1, "record_type": "evidence.uia.snapshot", "record_id": SNAPSHOT_REF_ID,
        "run_id": "run1", "ts_utc": "2026-02-20T10:00:00Z", "unix_ms_utc": hostile_number(rng),
        "hwnd": *pick(rng, &["0x1A2B", "", "0"]),
        "window": {"title": hostile_string(rng), "process_path": hostile_string(rng), "pid": hostile_number(rng)},
        "focus_path": nodes(rng), "context_peers": nodes(rng), "operables": nodes(rng),
        "stats": {"walk_ms": hostile_number(rng), "nodes_emitted": 3, "failures": 0},
        "content_hash": SNAPSHOT_REF_HASH,
    });
    if rng.random_bool(0.1) {
        snapshot["window"] = any_value(rng, 2);
    }
    if rng.random_bool(0.05) {
        snapshot["record_id"] = any_value(rng, 1);
    }
    if rng.random_bool(0.2) {
        snapshot = json!({"payload": snapshot});
    }
    finish_json(rng, &snapshot)
}

fn activity_signal(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.random_bool(0.05) {
        return noise(rng, 256);
    }
    let ts = match rng.random_range(0..6) {
        0 => json!("2026-02-21T01:59:58Z"),
        1 => json!("2026-02-21T02:00:00.000001+00:00"),
        2 => json!(*pick(
            rng,
            &[
                "9999-12-31T23:59:59-23:59",
                "0000-01-01T00:00:00+23:59",
                "2026-02-21T01:59:59-00:00"
            ]
        )),
        3 => any_value(rng, 1),
        _ => json!(hostile_string(rng)),
    };
    let mut signal = json!({
        "ts_utc": ts, "idle_seconds": hostile_number(rng), "user_active": rng.random_bool(0.5),
        "source": hostile_string(rng), "seq": hostile_number(rng),
    });
    if rng.random_bool(0.2) {
        signal["idle_seconds"] = any_value(rng, 1);
    }
    finish_json(rng, &signal)
}

fn query_text(rng: &mut ChaCha8Rng) -> String {
    let pieces = [
        "what",
        "did",
        "I",
        "see",
        "in",
        "editor",
        "app:",
        "window:",
        "after:",
        "before:",
        "at:",
        "12:08",
        "23:59:59",
        "99:99",
        "\"",
        "\"quoted phrase\"",
        "how",
        "many",
        "when",
        "last",
        "first",
        "time",
        "spent",
        "2026-02-20T10:00:00Z",
        "9999-12-31T23:59:59-23:59",
        "0000-01-01T00:00:00+23:59",
        "app:\"",
        "%",
        "_",
        "*",
        "NEAR(",
        "OR",
        "AND",
        "NOT",
        "'",
        "--",
        ";",
        "\u{0}",
        "\u{202e}",
        "e\u{301}",
        "\u{1F600}",
        "bogus:x",
        ":",
        "::",
        "-",
        "#",
    ];
    let mut out = String::new();
    for _ in 0..rng.random_range(0..12) {
        if rng.random_bool(0.15) {
            out.push_str(&hostile_string(rng));
        } else {
            out.push_str(pick::<&str>(rng, &pieces));
        }
        if rng.random_bool(0.7) {
            out.push(' ');
        }
    }
    if rng.random_bool(0.03) {
        out.push_str(&"a ".repeat(rng.random_range(2000..3000)));
    }
    out
}

fn popup_body(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => noise(rng, 1024),
        1 => noise(rng, 20_000),
        2 => {
            let body = json!({"query": any_value(rng, 2), "max_citations": any_value(rng, 1)});
            finish_json(rng, &body)
        }
        _ => {
            let mut body = json!({"query": query_text(rng)});
            if rng.random_bool(0.5) {
                body["max_citations"] = hostile_number(rng);
            }
            if rng.random_bool(0.3) {
                body["schedule_extract"] = any_value(rng, 1);
            }
            finish_json(rng, &body)
        }
    }
}

fn http_request(rng: &mut ChaCha8Rng) -> Vec<u8> {
    // Half the requests are well formed (known method, route and length) so the routes and the
    // token check are reached; the rest break the request line, the headers or the framing.
    let well_formed = rng.random_bool(0.5);
    let methods: &[&str] = if well_formed {
        &["GET", "POST"]
    } else {
        &[
            "GET", "POST", "DELETE", "PUT", "OPTIONS", "G\u{0}T", "", "POST ",
        ]
    };
    let method = *pick(rng, methods);
    let paths: &[&str] = if well_formed {
        &[
            "/api/auth/token",
            "/api/auth/status",
            "/health",
            "/api/query/popup",
        ]
    } else {
        &[
            "/api/query/popup",
            "/api/auth/token",
            "/",
            "*",
            "/api/query/popup?x=%00%ff",
            "/../../etc/passwd",
            "/api//query/popup",
            "/\u{1F600}",
        ]
    };
    let path = *pick(rng, paths);
    let body = if method == "GET" && well_formed {
        Vec::new()
    } else {
        popup_body(rng)
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if rng.random_bool(0.6) {
        head.push_str(pick::<&str>(
            rng,
            &[
                "Authorization: Bearer {token}\r\n",
                "Authorization: Bearer {token}x\r\n",
                "Authorization: bearer {token}\r\n",
                "Authorization: Basic {token}\r\n",
                "Authorization: Bearer \r\n",
            ],
        ));
    }
    let framing = if well_formed {
        5
    } else {
        rng.random_range(0..6)
    };
    match framing {
        0 => head.push_str("Content-Length: 99999999999999999999\r\n"),
        1 => head.push_str("Transfer-Encoding: chunked\r\n"),
        2 => head.push_str(&format!("Content-Length: {}\r\n", body.len() + 10)),
        3 => head.push_str("Content-Length: -1\r\n"),
        _ => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
    }
    if !well_formed && rng.random_bool(0.2) {
        head.push_str(&format!(
            "X-Long: {}\r\n",
            "a".repeat(rng.random_range(1000..70_000))
        ));
    }
    if rng.random_bool(0.2) {
        head.push_str("Origin: http://evil.example\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend(body);
    if !well_formed && rng.random_bool(0.3) {
        request = mutate_bytes(rng, request);
    }
    request
}
