//! Measurements against fixed inputs: query latency over a question mix ([`query`]) and Stage-1
//! ingest against the raw floor ([`ingest`]). Percentiles are nearest-rank.

pub mod ingest;
pub mod query;

pub use query::{QUERY_MIX, QueryBench, bench_queries, cached_data_root};

/// Nearest-rank percentile of sorted samples.
pub fn rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// The median of samples (nearest rank).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    rank(&sorted, 0.5)
}
