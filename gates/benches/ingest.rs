//! Criterion benchmark of Stage-1 ingest on a generated handoff: a first ingest into an empty
//! DataRoot, and a re-ingest of the same handoff (which must copy nothing).
//! `cargo bench -p autocapture-gates --bench ingest`; `BENCH_FRAMES` sets the handoff size.

use std::path::PathBuf;

use autocapture_core::base::clock::SystemClock;
use autocapture_core::stage1::ingest::{ImportMode, IngestOptions, ingest_handoff};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::generate::{GenerateOptions, generate};
use autocapture_gates::corpus::story::Story;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn handoff(dir: &std::path::Path, frames: u64) -> PathBuf {
    let spool = dir.join("spool");
    let story = Story::default_story().expect("story");
    generate(
        &story,
        &GenerateOptions {
            out: spool.clone(),
            seed: 7,
            frames,
            handoffs: 1,
        },
    )
    .expect("generate");
    std::fs::read_dir(&spool)
        .expect("spool")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("one handoff")
}

fn bench_ingest(c: &mut Criterion) {
    let frames: u64 = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let handoff = handoff(dir.path(), frames);
    let options = IngestOptions {
        mode: ImportMode::Hardlink,
        strict: true,
        workers: std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1),
        cpu_cap: None,
        ..IngestOptions::default()
    };
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(frames));
    let mut n = 0u64;
    group.bench_function(format!("first/{frames}_frames"), |b| {
        b.iter_batched(
            || {
                n += 1;
                DataRoot::new(dir.path().join(format!("data_{n}")))
            },
            |data| ingest_handoff(&handoff, &data, &options, &SystemClock).expect("ingest"),
            BatchSize::PerIteration,
        )
    });
    let data = DataRoot::new(dir.path().join("data_reingest"));
    ingest_handoff(&handoff, &data, &options, &SystemClock).expect("first ingest");
    group.bench_function(format!("reingest/{frames}_frames"), |b| {
        b.iter(|| {
            let report =
                ingest_handoff(&handoff, &data, &options, &SystemClock).expect("re-ingest");
            assert_eq!(report.counts.metadata_rows_copied, 0);
            report
        })
    });
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
