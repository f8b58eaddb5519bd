//! Criterion benchmark of the retention SLA estimate: the committed profiles over the 144 h
//! horizon at minute resolution (both percentile projections, with and without the series kept
//! for the chart). Target: under 50 ms.

use autocapture_gates::contract::workspace_root;
use autocapture_gates::sla::estimate::estimate;
use autocapture_gates::sla::inputs::load_inputs;
use criterion::{Criterion, criterion_group, criterion_main};
use time::macros::datetime;

fn bench_estimate(c: &mut Criterion) {
    let now = datetime!(2026-02-16 00:00:00 UTC);
    let root = workspace_root().expect("a checkout").join("fixtures/sla");
    let mut group = c.benchmark_group("sla_estimate_144h");
    for name in [
        "deployment",
        "known/fail/burst-week",
        "known/fail/starved-idle-week",
    ] {
        let inputs = load_inputs(&root.join(format!("{name}.json"))).expect("committed profile");
        let label = name.rsplit('/').next().unwrap_or(name);
        group.bench_function(format!("{label}/with_series"), |b| {
            b.iter(|| estimate(&inputs, now, true))
        });
        group.bench_function(format!("{label}/verdict_only"), |b| {
            b.iter(|| estimate(&inputs, now, false))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_estimate);
criterion_main!(benches);
