//! Criterion benchmark of query latency per intent on a generated, ingested and indexed DataRoot
//! (`BENCH_FRAMES`, default 5,000). For percentiles on a large DataRoot use
//! `autocapture-gates bench query --data-dir D`.

use autocapture_core::clock::SteppingClock;
use autocapture_core::drain::list_handoffs;
use autocapture_core::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::stage2::{Stage2Options, run_stage2};
use autocapture_core::store::DataRoot;
use autocapture_gates::bench::QUERY_MIX;
use autocapture_gates::fixtures::generate::{GenerateOptions, generate};
use autocapture_gates::fixtures::story::Story;
use criterion::{Criterion, criterion_group, criterion_main};
use time::macros::datetime;

fn indexed_data_root(dir: &std::path::Path, frames: u64) -> DataRoot {
    let spool = dir.join("spool");
    generate(
        &Story::default_story().expect("story"),
        &GenerateOptions {
            out: spool.clone(),
            seed: 7,
            frames,
            handoffs: 1,
        },
    )
    .expect("generate");
    let data = DataRoot::new(dir.join("data"));
    let clock = SteppingClock::new(datetime!(2026-02-21 02:00:00 UTC), time::Duration::ZERO);
    for handoff in list_handoffs(&spool).expect("list") {
        ingest_handoff(
            &handoff,
            &data,
            &IngestOptions {
                workers: 2,
                ..IngestOptions::default()
            },
            &clock,
        )
        .expect("ingest");
    }
    std::fs::write(
        data.root.join("activity_signal.json"),
        r#"{"ts_utc": "2026-02-21T02:00:00Z", "idle_seconds": 60, "user_active": false}"#,
    )
    .expect("signal");
    run_stage2(
        &data,
        &Stage2Options {
            activity_signal: None,
            fresh_seconds: 5,
        },
        &clock,
    )
    .expect("stage 2");
    data
}

fn bench_queries(c: &mut Criterion) {
    let frames: u64 = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = indexed_data_root(dir.path(), frames);
    let handle = QueryHandle::open(&data).expect("open");
    let options = QueryOptions::default();
    let mut group = c.benchmark_group(format!("query/{frames}_frames"));
    group.sample_size(30);
    for (index, (intent, question)) in QUERY_MIX.iter().enumerate() {
        group.bench_function(format!("{index:02}_{intent}"), |b| {
            b.iter(|| query::answer(&handle, question, &options).expect("answer"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_queries);
criterion_main!(benches);
