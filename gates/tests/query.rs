//! The query engine on a generated, ingested and indexed DataRoot: read-only by construction,
//! counters at 0, every intent answered as the story's ground truth says with citations to real
//! records, `not_available_yet` for a period Stage 2 has not reached, `no_evidence` when nothing
//! matches, byte-identical answers, and popup responses that validate against their schema.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::contract::sha256_file;
use autocapture_core::query::{self, AnswerState, QueryHandle, QueryOptions};
use autocapture_core::stage1::completeness;
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use autocapture_gates::corpus::build::{BUILD_TIME, index_while_idle};
use rusqlite::Connection;
use serde_json::Value;
use time::macros::datetime;

struct Setup {
    _dir: tempfile::TempDir,
    data: DataRoot,
    truth: Value,
}

/// A DataRoot with the whole corpus ingested and (unless `partial`) indexed.
fn setup(partial: bool) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, truth) = autocapture_gates::corpus::build::ingested(dir.path(), 6, 900, 3)
        .expect("ingested DataRoot");
    // A partial run: the signal goes stale after about 100 frames.
    let step = if partial { 16 } else { 0 };
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::milliseconds(step));
    index_while_idle(&data, &clock).expect("stage 2");
    Setup {
        _dir: dir,
        data,
        truth,
    }
}

fn ask(handle: &QueryHandle, q: &str) -> query::Answer {
    query::answer(handle, q, &QueryOptions::default()).expect("answers")
}

/// Every file of the DataRoot with its hash. SQLite's shared-memory index and an empty WAL (which
/// a read-only connection may create and holds no data) are runtime state, not content.
fn files(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !is_runtime_state(&path) {
                out.insert(
                    path.display().to_string(),
                    sha256_file(&path).expect("hash").0,
                );
            }
        }
    }
    out
}

/// The window that truth says had focus at `ts`.
fn truth_focus(truth: &Value, ts: &str) -> String {
    truth["focus_timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .rev()
        .find(|s| s["start_ts_utc"].as_str().unwrap_or("") <= ts)
        .and_then(|s| s["title"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// SQLite's shared-memory index, or an empty WAL.
fn is_runtime_state(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with("-shm")
        || (name.ends_with("-wal") && fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0)
}

#[test]
fn the_handle_is_read_only_and_queries_change_nothing() {
    let s = setup(false);
    let before = files(&s.data.root);
    let handle = QueryHandle::open(&s.data).expect("open");
    for sql in [
        "INSERT INTO metadata (id) VALUES ('x')",
        "DELETE FROM metadata",
        "UPDATE d.derived SET payload = ''",
        "CREATE TABLE t (x)",
        "DROP TABLE s.search_frames",
        "PRAGMA query_only = 0",
    ] {
        let result = handle.try_execute(sql);
        if sql.starts_with("PRAGMA") {
            assert!(
                handle
                    .try_execute("INSERT INTO metadata (id) VALUES ('y')")
                    .is_err(),
                "writes still refused after {sql}"
            );
        } else {
            assert!(result.is_err(), "{sql} succeeded through the query handle");
        }
    }
    for q in [
        "which window had focus at 10:20:10?",
        "Globex",
        "which windows were open at 14:10",
        "last time Globex was seen",
    ] {
        let answer = ask(&handle, q);
        let c = answer.counters;
        assert_eq!(
            (
                c.query_extractor_launch_total,
                c.query_schedule_extract_requests_total,
                c.query_raw_media_reads_total
            ),
            (0, 0, 0)
        );
    }
    drop(handle);
    assert_eq!(
        files(&s.data.root),
        before,
        "the DataRoot changed during queries"
    );
}

#[test]
fn focus_intents_match_the_story() {
    let s = setup(false);
    let handle = QueryHandle::open(&s.data).expect("open");
    for (q, ts) in [
        (
            "which window had focus at 10:20:10?",
            "2026-02-20T10:20:10Z",
        ),
        ("what was focused at 09:06:40", "2026-02-20T09:06:40Z"),
        (
            "What app was in the foreground at 16:12:30?",
            "2026-02-20T16:12:30Z",
        ),
    ] {
        let answer = ask(&handle, q);
        assert_eq!(answer.state, AnswerState::Ok, "{q}: {}", answer.summary);
        assert_eq!(
            answer.fields["window_title"],
            truth_focus(&s.truth, ts).as_str(),
            "{q}"
        );
        assert!(
            answer
                .citations
                .iter()
                .any(|c| c.record_type == "evidence.capture.frame")
        );
        assert!(
            answer
                .citations
                .iter()
                .any(|c| c.record_type == "obs.uia.focus" && c.bbox.is_some()),
            "{q}: focus bbox cited"
        );
    }
    let before = ask(&handle, "what window was focused just before 10:21:00");
    assert_eq!(
        before.fields["window_title"],
        "● invoice_totals.rs - ledger - Visual Studio Code"
    );
    let after = ask(&handle, "which window had focus right after 10:20:30");
    assert_eq!(
        after.fields["window_title"],
        "invoice_totals.rs - ledger - Visual Studio Code"
    );
    let timeline = ask(&handle, "focus timeline from 10:15 to 10:25");
    let titles: Vec<&str> = timeline.fields["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|s| s["window_title"].as_str())
        .collect();
    assert_eq!(
        titles,
        vec![
            "● invoice_totals.rs - ledger - Visual Studio Code",
            "Save As",
            "invoice_totals.rs - ledger - Visual Studio Code",
            "Relay - Priya Raman"
        ]
    );
}

#[test]
fn text_windows_and_processes_match_the_story() {
    let s = setup(false);
    let handle = QueryHandle::open(&s.data).expect("open");
    let seen = &s.truth["texts"]["can you confirm the Globex amount before 11?"];
    let first = ask(
        &handle,
        "when did I first see \"confirm the Globex amount\"?",
    );
    assert_eq!(first.state, AnswerState::Ok, "{}", first.summary);
    assert_eq!(first.fields["ts_utc"], seen["first"]["ts_utc"]);
    let last = ask(&handle, "last time \"confirm the Globex amount\" was seen");
    assert_eq!(last.fields["ts_utc"], seen["last"]["ts_utc"]);
    let doc_citation = last
        .citations
        .iter()
        .find(|c| c.doc_id.is_some())
        .expect("doc cited");
    assert!(doc_citation.bbox.is_some() && doc_citation.offset_end > doc_citation.offset_start);

    let windows = ask(&handle, "which windows were open at 10:20:30?");
    let titles: Vec<&str> = windows.fields["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .filter_map(|w| w["window_title"].as_str())
        .collect();
    assert!(titles.contains(&"Save As"), "{titles:?}");
    assert!(
        !titles.iter().any(|t| t.starts_with("RE: Q1")),
        "the compose window opens at 11:05"
    );

    let owner = ask(&handle, "which process owned the Save As window?");
    assert_eq!(owner.fields["process_name"], "Code.exe");
    let duration = ask(
        &handle,
        "how long was Relay focused between 09:00 and 12:00?",
    );
    let expected: i64 = s.truth["focus_timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|seg| {
            seg["app"] == "chat" && seg["start_ts_utc"].as_str().unwrap_or("") < "2026-02-20T12:00"
        })
        .map(|seg| {
            let (a, b) = (
                seg["start_ts_utc"].as_str().unwrap_or(""),
                seg["end_ts_utc"].as_str().unwrap_or(""),
            );
            let p = |t: &str| {
                autocapture_core::contract::parse_ts_utc(t)
                    .map(|x| x.unix_timestamp())
                    .unwrap_or(0)
            };
            p(b) - p(a)
        })
        .sum();
    let got = duration.fields["focus_seconds"].as_i64().expect("seconds");
    assert!(
        (got - expected).abs() <= 120,
        "focus seconds {got} vs truth {expected}"
    );

    let search = ask(&handle, r#"app:firefox "Q1 total""#);
    assert_eq!(search.state, AnswerState::Ok);
    assert!(search.bullets.iter().all(|b| b.contains("firefox.exe")));
}

#[test]
fn citations_point_at_real_records() {
    let s = setup(false);
    let handle = QueryHandle::open(&s.data).expect("open");
    let metadata = Connection::open(s.data.metadata_db()).expect("open");
    let derived = Connection::open(s.data.derived_db()).expect("open");
    for q in [
        "which window had focus at 11:31:00",
        "Globex",
        "which windows were open at 12:00",
        "first time \"INC-4821\" was seen",
        "which process owned the Calendar window",
    ] {
        let answer = ask(&handle, q);
        assert_eq!(answer.state, AnswerState::Ok, "{q}");
        assert!(!answer.citations.is_empty());
        for c in &answer.citations {
            let exists = |conn: &Connection, table: &str| -> bool {
                conn.query_row(
                    &format!("SELECT count(*) FROM {table} WHERE id = ?1"),
                    [&c.record_id],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0)
                    == 1
            };
            assert!(
                exists(&metadata, "metadata") || exists(&derived, "derived"),
                "{q}: {} does not exist",
                c.record_id
            );
            if let Some([l, t, r, b]) = c.bbox {
                assert!(
                    r >= l && b >= t && r <= 1920 && b <= 1080,
                    "{q}: bbox {:?}",
                    c.bbox
                );
            }
        }
    }
}

#[test]
fn unprocessed_periods_and_empty_results() {
    let s = setup(true);
    let handle = QueryHandle::open(&s.data).expect("open");
    let late = ask(&handle, "which window had focus at 16:00?");
    assert_eq!(late.state, AnswerState::NotAvailableYet, "{}", late.summary);
    assert!(late.needs_processing);
    let missing = late.not_available.as_ref().expect("what is missing");
    assert!(
        missing
            .newest_processed_ts_utc
            .as_deref()
            .is_some_and(|t| t < "2026-02-20T16:00")
    );
    assert!(missing.how_to_produce.contains("autocapture stage2 run"));
    assert_eq!(
        late.processing_blocked_reason.as_deref(),
        Some("stage2_pending")
    );
    let early = ask(&handle, "which window had focus at 09:01");
    assert_eq!(early.state, AnswerState::Ok);
    // Nothing found while frames wait for Stage 2: not yet, with how many wait.
    for question in ["zeppelin quokka", "which window had focus at 07:00"] {
        let pending = ask(&handle, question);
        assert_eq!(pending.state, AnswerState::NotAvailableYet, "{question}");
        assert!(
            pending.fields["pending_frames"]
                .as_u64()
                .is_some_and(|n| n > 0)
        );
        assert!(pending.citations.is_empty() && pending.confidence_pct == 0);
    }
    // Once every frame is indexed, the same questions find no evidence.
    let whole = setup(false);
    let handle = QueryHandle::open(&whole.data).expect("open");
    let nothing = ask(&handle, "zeppelin quokka");
    assert_eq!(nothing.state, AnswerState::NoEvidence);
    assert!(nothing.citations.is_empty() && nothing.confidence_pct == 0);
    let before_day = ask(&handle, "which window had focus at 07:00");
    assert_eq!(before_day.state, AnswerState::NoEvidence);
}

#[test]
fn answers_are_deterministic_and_popup_responses_validate() {
    let s = setup(false);
    let handle = QueryHandle::open(&s.data).expect("open");
    let set = ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts");
    for q in [
        "which window had focus at 10:20:10?",
        "focus timeline from 09:00 to 09:30",
        "which windows were open at 14:10",
        "Globex",
        "zeppelin quokka",
        "how long was Firefox focused",
    ] {
        let a = serde_json::to_string(&ask(&handle, q)).expect("json");
        let b = serde_json::to_string(&ask(&handle, q)).expect("json");
        assert_eq!(a, b, "{q}: answers differ between runs");
        let popup = ask(&handle, q).to_popup(3);
        assert_eq!(
            set.validate("popup-response", &popup).expect("validate"),
            Vec::<String>::new(),
            "{q}"
        );
    }
    let syntax = query::answer(&handle, "frobnicate:now", &QueryOptions::default())
        .expect_err("syntax error");
    assert_eq!(syntax.code(), "query_syntax");
}

#[test]
fn structured_intents_match_the_story() {
    let s = setup(false);
    let handle = QueryHandle::open(&s.data).expect("open");
    let labels = |answer: &query::Answer| -> Vec<String> {
        answer.fields["elements"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|x| x["label"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let buttons = ask(
        &handle,
        "which buttons were in the Save As window at 10:20:30?",
    );
    assert_eq!(
        labels(&buttons),
        vec!["Save", "Cancel"],
        "{}",
        buttons.summary
    );
    assert!(
        buttons
            .citations
            .iter()
            .filter(|c| c.bbox.is_some())
            .count()
            >= 2
    );
    let tabs = ask(&handle, "how many tabs were open in Firefox at 10:41?");
    assert_eq!(tabs.fields["count"], 3);
    let fields = ask(
        &handle,
        "what are the fields in the Service Portal at 09:50",
    );
    let pairs: Vec<(String, String)> = fields.fields["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap_or("").to_owned(),
                e["value"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        pairs.contains(&("Status".into(), "Waiting on parts".into())),
        "{pairs:?}"
    );
    let morning = ask(
        &handle,
        "what is the sum of the amounts shown in the budget at 10:41",
    );
    assert_eq!(morning.fields["sum"], "14135.00");
    assert_eq!(
        morning.fields["shown_total"], "14135.00",
        "the page's own total agrees"
    );
    let afternoon = ask(&handle, "add up the amounts in the budget at 14:40");
    assert_eq!(afternoon.fields["sum"], "14635.00", "{}", afternoon.summary);
    let texts = &s.truth["texts"];
    let ts = |t: &Value| {
        autocapture_core::contract::parse_ts_utc(t.as_str().unwrap_or(""))
            .map(|x| x.unix_timestamp())
            .unwrap_or(0)
    };
    let expected = ts(&texts["can you confirm the Globex amount before 11?"]["first"]["ts_utc"])
        - ts(&texts["Save As"]["first"]["ts_utc"]);
    let elapsed = ask(
        &handle,
        r#"how much time passed between "Save As" and "confirm the Globex amount""#,
    );
    assert_eq!(elapsed.fields["elapsed_seconds"], expected);
    let send = ask(&handle, r#"where was the "Send" button at 11:06?"#);
    assert_eq!(send.fields["role"], "button");
    let b: Vec<u64> = send.fields["bbox"]
        .as_array()
        .expect("bbox")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(
        b[0] >= 300 && b[2] <= 1500 && b[1] >= 100 && b[3] <= 900,
        "inside the compose window: {b:?}"
    );
    assert_eq!(send.citations[0].bbox.map(|x| x.to_vec()), Some(b));
}

/// Where an element was, named without quotes: the element whose whole name the question writes
/// out answers ("Reply all", not the "Reply" its name begins with), and a shorter element never
/// answers for a longer name it only begins.
#[test]
fn an_element_named_in_words_is_the_whole_name_never_a_prefix() {
    let s = setup(false);
    let handle = QueryHandle::open(&s.data).expect("open");
    for (question, name) in [
        ("where was the Reply all button at 13:16", "Reply all"),
        ("where was the Reply button at 13:16", "Reply"),
        ("where was \"Reply all\" at 13:16", "Reply all"),
    ] {
        let answer = ask(&handle, question);
        assert_eq!(
            answer.state,
            AnswerState::Ok,
            "{question}: {}",
            answer.summary
        );
        assert_eq!(
            answer.fields["name"], name,
            "{question}: {}",
            answer.summary
        );
    }
}

/// A DataRoot of the story whose spool, when `odd` is set, has one more handoff holding values
/// of every storage class (an untyped table): a REAL, an INTEGER and BLOB payloads, window
/// records with a BLOB and a REAL payload, a frame with an INTEGER time, a text record with a
/// BLOB type. Their times, where they are text, lie after the story's day.
fn story_with(odd: bool, dir: &Path) -> DataRoot {
    let (_, mut handoffs) = autocapture_gates::corpus::build::spool(dir, 6, 900, 3).expect("spool");
    if odd {
        let handoff = dir.join("handoff_odd");
        fs::create_dir_all(&handoff).expect("dir");
        let conn = Connection::open(handoff.join("metadata.db")).expect("open");
        conn.execute_batch(
            "CREATE TABLE metadata (id TEXT PRIMARY KEY, record_type, ts_utc, payload, run_id);
             INSERT INTO metadata VALUES
               ('odd/real', 'odd.real', '2030-01-01T00:00:00Z', 1e300, 'odd'),
               ('odd/int', 'odd.int', '2030-01-01T00:00:01Z', 12345, 'odd'),
               ('odd/blob', 'odd.blob', '2030-01-01T00:00:02Z', X'00FF7B80', 'odd'),
               ('odd/window/blob', 'evidence.window.meta', '2030-01-01T00:00:03Z',
                  CAST('{\"window\":{\"title\":\"Odd blob\"}}' AS BLOB), 'odd'),
               ('odd/window/real', 'evidence.window.meta', '2030-01-01T00:00:04Z', 2.5, 'odd'),
               ('odd/window/int-time', 'evidence.window.meta', 7, '{\"window\":{\"title\":\"Odd\"}}', 'odd'),
               ('odd/frame/int-time', 'evidence.capture.frame', 8, '{\"frame_id\":\"odd\"}', 'odd'),
               ('odd/text/blob-type', CAST('derived.text.ocr' AS BLOB), X'01', '{\"text\":\"odd\"}', 'odd');",
        )
        .expect("odd rows");
        handoffs.push(handoff);
    }
    let data = DataRoot::new(dir.join("data"));
    let clock = SteppingClock::new(
        datetime!(2026-02-21 01:00:00 UTC),
        time::Duration::milliseconds(1),
    );
    let options = autocapture_core::stage1::ingest::IngestOptions {
        strict: false,
        ..Default::default()
    };
    for handoff in &handoffs {
        autocapture_core::stage1::ingest::ingest_handoff(handoff, &data, &options, &clock)
            .expect("ingest");
    }
    index_while_idle(&data, &SteppingClock::new(BUILD_TIME, time::Duration::ZERO))
        .expect("stage 2 runs");
    data
}

/// Values keep their storage class in the DataRoot, and every reader of the evidence table
/// (Stage 2, the completeness audit, the query engine's window records and titles) takes them
/// in its stride: the story's answers are the same with and without the odd handoff.
#[test]
fn values_of_any_storage_class_are_kept_and_every_reader_copes() {
    let plain_dir = tempfile::tempdir().expect("temp dir");
    let odd_dir = tempfile::tempdir().expect("temp dir");
    let plain = story_with(false, plain_dir.path());
    let odd = story_with(true, odd_dir.path());
    let conn = Connection::open(odd.metadata_db()).expect("open");
    let kinds: Vec<(String, String, String, String)> = conn
        .prepare("SELECT id, typeof(record_type), typeof(ts_utc), typeof(payload) FROM metadata WHERE id LIKE 'odd/%' ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let kind = |id: &str| {
        kinds
            .iter()
            .find(|k| k.0 == id)
            .map(|k| (k.1.as_str(), k.2.as_str(), k.3.as_str()))
    };
    assert_eq!(kind("odd/real"), Some(("text", "text", "real")));
    assert_eq!(kind("odd/int"), Some(("text", "text", "integer")));
    assert_eq!(kind("odd/blob"), Some(("text", "text", "blob")));
    assert_eq!(kind("odd/window/blob"), Some(("text", "text", "blob")));
    assert_eq!(
        kind("odd/frame/int-time"),
        Some(("text", "integer", "text"))
    );
    assert_eq!(kind("odd/text/blob-type"), Some(("blob", "blob", "text")));
    let real: f64 = conn
        .query_row(
            "SELECT payload FROM metadata WHERE id = 'odd/real'",
            [],
            |r| r.get(0),
        )
        .expect("real");
    assert_eq!(real, 1e300);

    completeness::audit(&odd).expect("the completeness audit reads every frame");
    let plain_handle = QueryHandle::open(&plain).expect("open");
    let odd_handle = QueryHandle::open(&odd).expect("open");
    let mut answered = 0;
    for q in [
        "which window had focus at 10:20:30?",
        "which windows were open at 10:20:30?",
        "which process owned the Save As window?",
        "what window was focused just before 10:21:00",
        "focus timeline from 10:15 to 10:25",
        r#"last time "confirm the Globex amount" was seen"#,
    ] {
        let a = serde_json::to_value(ask(&plain_handle, q)).expect("json");
        let b = serde_json::to_value(ask(&odd_handle, q)).expect("json");
        assert_eq!(a["state"], b["state"], "{q}");
        assert_eq!(a["summary"], b["summary"], "{q}");
        answered += usize::from(a["state"] == "ok");
    }
    assert!(
        answered >= 4,
        "only {answered} of the questions answered ok"
    );
}

/// An answer reads one snapshot: inside `in_snapshot`, a row another connection commits to the
/// evidence store (and to the derived store) is not seen; once the snapshot ends it is.
#[test]
fn a_snapshot_holds_across_a_commit() {
    let s = setup(true);
    let handle = QueryHandle::open(&s.data).expect("open");
    let count =
        |sql: &str| -> i64 { handle.rows(sql, [], |r| r.get::<_, i64>(0)).expect("count")[0] };
    let evidence = "SELECT count(*) FROM metadata";
    let derived = "SELECT count(*) FROM d.derived";
    let (evidence_before, derived_before) = (count(evidence), count(derived));
    let seen = handle
        .in_snapshot(|| -> rusqlite::Result<(i64, i64)> {
            let first = count(evidence);
            let writer = autocapture_core::store::open_metadata_writer(&s.data)?;
            writer.execute(
                "INSERT INTO metadata (id, record_type, payload) VALUES ('late/1', 'late', '{}')",
                [],
            )?;
            let derived_writer = autocapture_core::store::open_derived_writer(&s.data)?;
            derived_writer.execute(
                "INSERT INTO derived (id, record_type, payload) VALUES ('late/d/1', 'late', '{}')",
                [],
            )?;
            assert_eq!(
                count(evidence),
                first,
                "a commit showed inside the snapshot"
            );
            Ok((count(evidence), count(derived)))
        })
        .expect("snapshot");
    assert_eq!(seen, (evidence_before, derived_before));
    assert_eq!(count(evidence), evidence_before + 1);
    assert_eq!(count(derived), derived_before + 1);
}
