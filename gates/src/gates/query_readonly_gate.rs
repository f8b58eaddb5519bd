//! The `query-readonly` gate: on the run's shared indexed DataRoot (which no gate may change:
//! this gate's byte check would also see another gate writing into it while it runs), every
//! kind of write
//! through the query handle fails, a batch of questions covering every intent leaves every byte
//! of the DataRoot as it was, the three counters stay 0, and every `ok` answer cites records.

use std::collections::BTreeMap;
use std::path::Path;

use autocapture_core::contract::sha256_file;
use autocapture_core::query::{self, AnswerState, QueryHandle, QueryOptions};
use serde_json::json;

use crate::bench::QUERY_MIX;
use crate::harness::gate::{Gate, GateContext, GateOutcome};

pub struct QueryReadonlyGate;

/// Every file's hash, SQLite's runtime files (shared memory, an empty WAL) aside.
fn contents(root: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if !(name.ends_with("-shm")
                || (name.ends_with("-wal") && std::fs::metadata(&path)?.len() == 0))
            {
                out.insert(name, sha256_file(&path)?.0);
            }
        }
    }
    Ok(out)
}

impl Gate for QueryReadonlyGate {
    fn name(&self) -> &'static str {
        "query-readonly"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let indexed = ctx.shared.indexed()?;
        let data = &indexed.data;
        let before = contents(&data.root)?;
        let handle = QueryHandle::open(data)?;
        for sql in [
            "INSERT INTO metadata (id) VALUES ('gate')",
            "UPDATE metadata SET payload = ''",
            "DELETE FROM d.derived",
            "DROP TABLE s.search_frames",
            "CREATE TABLE gate (x)",
        ] {
            outcome.check(
                &format!(
                    "write refused: {}",
                    sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
                ),
                handle.try_execute(sql).is_err(),
                format!("`{sql}` succeeded"),
            );
        }
        let (mut ok, mut cited, mut counters) = (0, 0, 0u64);
        for (_, question) in QUERY_MIX {
            let answer = query::answer(&handle, question, &QueryOptions::default())?;
            let c = answer.counters;
            counters += c.query_extractor_launch_total
                + c.query_schedule_extract_requests_total
                + c.query_raw_media_reads_total;
            if answer.state == AnswerState::Ok {
                ok += 1;
                cited += u32::from(!answer.citations.is_empty());
            }
        }
        drop(handle);
        outcome.measure("questions", QUERY_MIX.len() as u64);
        outcome.measure("answered_ok", ok);
        outcome.check_eq("counters stay 0", None, json!(0), json!(counters));
        outcome.check_eq(
            "every ok answer cites records",
            None,
            json!(ok),
            json!(cited),
        );
        outcome.check(
            "questions are answered",
            ok > 0,
            "no question was answered ok",
        );
        let after = contents(&data.root)?;
        let changed: Vec<&String> = after
            .keys()
            .chain(before.keys())
            .filter(|k| after.get(*k) != before.get(*k))
            .collect();
        outcome.check(
            "no DataRoot byte changed",
            changed.is_empty(),
            format!("{changed:?}"),
        );
        Ok(outcome)
    }
}
