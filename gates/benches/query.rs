//! Criterion benchmark of query latency per intent on a generated, ingested and indexed DataRoot
//! (`BENCH_FRAMES`, default 5,000). For percentiles on a large DataRoot use
//! `autocapture-gates bench query --data-dir D`.

use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_gates::bench::QUERY_MIX;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench_queries(c: &mut Criterion) {
    let frames: u64 = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, _) = autocapture_gates::corpus::build::indexed(dir.path(), 7, frames, 1)
        .expect("indexed DataRoot");
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
