//! The `uia` gate: Stage 1 derives UIA docs metadata-first, uses the fallback snapshot only on a
//! lookup miss and only through its hash gate, names docs by the deterministic recipe, links each
//! doc to its frame's `uia_ref`, and emits only schema-valid docs with numerically valid bboxes.

use std::collections::HashMap;
use std::path::Path;

use autocapture_core::base::clock::SystemClock;
use autocapture_core::contract::sha256_hex;
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::store::DataRoot;
use autocapture_core::uia::{Section, doc_id};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::contract::{default_contracts_dir, schemas::ContractSet};
use crate::corpus::copies::first_snapshot;
use crate::corpus::copies::{copy_tree, private_spool};
use crate::harness::gate::{Gate, GateContext, GateOutcome};

pub struct UiaGate;

fn rows(db: &Path, sql: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(sql)?;
    let out = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(out)
}

impl Gate for UiaGate {
    fn name(&self) -> &'static str {
        "uia"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        let set = ContractSet::load(&default_contracts_dir()?)?;
        let (_, handoffs) = private_spool(&ctx.corpus, &ctx.work)?;
        let data = DataRoot::new(ctx.work.join("data"));
        let options = IngestOptions {
            workers: ctx.jobs,
            ..IngestOptions::default()
        };
        let mut missing = 0;
        for handoff in &handoffs {
            let report = ingest_handoff(handoff, &data, &options, &SystemClock)?;
            missing += report.counts.stage1_uia_frames_missing_count;
        }
        outcome.measure("frames_without_uia_docs", missing);

        // Every doc: schema-valid, recipe id, linkage to its frame, valid bboxes.
        let frames: HashMap<String, Value> = rows(&data.metadata_db(), "SELECT id, record_type, payload FROM metadata WHERE record_type = 'evidence.capture.frame'")?
            .into_iter()
            .filter_map(|(id, _, payload)| serde_json::from_str(&payload).ok().map(|v| (id, v)))
            .collect();
        let docs = rows(
            &data.derived_db(),
            "SELECT id, record_type, payload FROM derived WHERE record_type LIKE 'obs.uia.%' ORDER BY id",
        )?;
        outcome.measure("uia_docs", docs.len() as u64);
        let (mut schema_bad, mut id_bad, mut link_bad, mut bbox_bad) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, record_type, payload) in &docs {
            let doc: Value = serde_json::from_str(payload)?;
            if !set.validate("uia-doc", &doc)?.is_empty() {
                schema_bad.push(id.clone());
            }
            let section = match record_type.as_str() {
                "obs.uia.focus" => Section::Focus,
                "obs.uia.context" => Section::Context,
                _ => Section::Operable,
            };
            if doc_id(doc["uia_record_id"].as_str().unwrap_or_default(), section) != *id {
                id_bad.push(id.clone());
            }
            let frame = doc["source_record_id"].as_str().and_then(|f| frames.get(f));
            let linked = frame.is_some_and(|f| {
                f["uia_ref"]["record_id"] == doc["uia_record_id"]
                    && f["uia_ref"]["content_hash"] == doc["uia_content_hash"]
            });
            if !linked {
                link_bad.push(id.clone());
            }
            let (w, h) = frame
                .and_then(autocapture_core::uia::frame_dims)
                .unwrap_or((0, 0));
            let nodes = doc["meta"]["uia_nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ok = nodes.iter().all(|n| {
                let b: Vec<u64> = n["bbox"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let p: Vec<u64> = n["bbox_norm_bp"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                b.len() == 4
                    && p.len() == 4
                    && b[2] >= b[0]
                    && b[3] >= b[1]
                    && b[2] <= w
                    && b[3] <= h
                    && p.iter().all(|v| *v <= 10_000)
            });
            if !ok {
                bbox_bad.push(id.clone());
            }
        }
        let first = |v: &[String]| v.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        outcome.check(
            "docs exist",
            !docs.is_empty(),
            "the corpus produced no UIA docs",
        );
        outcome.check(
            "every doc validates against its schema",
            schema_bad.is_empty(),
            first(&schema_bad),
        );
        outcome.check(
            "every doc id follows the recipe",
            id_bad.is_empty(),
            first(&id_bad),
        );
        outcome.check_eq(
            "doc id fixed vector",
            None,
            json!("run1/derived.sst.text/extra/rid_dWlhLXJ1bjEvZXZpZGVuY2UudWlhLnNuYXBzaG90LzAtY29udGV4dC0w"),
            json!(doc_id("run1/evidence.uia.snapshot/0", Section::Context)),
        );
        outcome.check(
            "every doc links to its frame's uia_ref",
            link_bad.is_empty(),
            first(&link_bad),
        );
        outcome.check(
            "every bbox is ordered and inside its frame",
            bbox_bad.is_empty(),
            first(&bbox_bad),
        );

        // Metadata first, then the fallback only on a miss, through the hash gate.
        let first_handoff = handoffs
            .first()
            .ok_or_else(|| anyhow::anyhow!("the corpus has no handoff"))?;
        let (snapshot_id, snapshot) = first_snapshot(first_handoff)?;
        let focus_title = |data: &DataRoot| -> anyhow::Result<Option<String>> {
            let found = rows(
                &data.derived_db(),
                &format!(
                    "SELECT id, record_type, payload FROM derived WHERE id = '{}'",
                    doc_id(&snapshot_id, Section::Focus)
                ),
            )?;
            Ok(found
                .first()
                .and_then(|(_, _, p)| serde_json::from_str::<Value>(p).ok())
                .and_then(|d| d["window_title"].as_str().map(str::to_owned)))
        };
        let setup = |name: &str,
                     delete_row: bool,
                     fallback: Option<(Vec<u8>, String)>|
         -> anyhow::Result<DataRoot> {
            let handoff = ctx.work.join(name).join("handoff");
            copy_tree(first_handoff, &handoff)?;
            if delete_row {
                Connection::open(handoff.join("metadata.db"))?
                    .execute("DELETE FROM metadata WHERE id = ?1", [&snapshot_id])?;
            }
            let data = DataRoot::new(ctx.work.join(name).join("data"));
            if let Some((bytes, sidecar)) = fallback {
                std::fs::create_dir_all(data.root.join("uia"))?;
                std::fs::write(data.root.join("uia/latest.snap.json"), bytes)?;
                std::fs::write(data.root.join("uia/latest.snap.sha256"), sidecar)?;
            }
            ingest_handoff(&handoff, &data, &options, &SystemClock)?;
            Ok(data)
        };
        let mut decoy = snapshot.clone();
        decoy["window"]["title"] = json!("decoy title from the fallback");
        let decoy_bytes = serde_json::to_vec(&decoy)?;
        let with_decoy = setup(
            "metadata-first",
            false,
            Some((decoy_bytes.clone(), sha256_hex(&decoy_bytes))),
        )?;
        outcome.check_eq(
            "metadata wins over a valid fallback",
            Some(&snapshot_id),
            snapshot["window"]["title"].clone(),
            json!(focus_title(&with_decoy)?),
        );
        let snapshot_bytes = serde_json::to_vec(&snapshot)?;
        let served = setup(
            "fallback-served",
            true,
            Some((snapshot_bytes.clone(), sha256_hex(&snapshot_bytes))),
        )?;
        outcome.check_eq(
            "a miss is served by a fallback that passes the gate",
            Some(&snapshot_id),
            snapshot["window"]["title"].clone(),
            json!(focus_title(&served)?),
        );
        let refused = setup(
            "fallback-refused",
            true,
            Some((snapshot_bytes, sha256_hex(b"tampered"))),
        )?;
        outcome.check_eq(
            "a fallback failing its hash gate yields no docs",
            Some(&snapshot_id),
            Value::Null,
            json!(focus_title(&refused)?),
        );
        Ok(outcome)
    }
}
