//! Query latency: a fixed mix of questions per intent, run against a DataRoot through
//! the real read-only engine, reported as p50/p95/p99 (nearest rank) per intent and overall.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::query::{self, QueryHandle, QueryOptions};
use autocapture_core::store::DataRoot;
use serde::Serialize;

use super::rank;

/// The question mix: (intent, question). Times and texts come from the default story.
pub const QUERY_MIX: &[(&str, &str)] = &[
    ("focus_at", "which window had focus at 09:06:40?"),
    ("focus_at", "what was focused at 10:20:10"),
    ("focus_at", "what app was in the foreground at 16:12:30?"),
    (
        "focus_adjacent",
        "what window was focused just before 10:21",
    ),
    ("focus_timeline", "focus timeline from 10:15 to 10:25"),
    ("window_inventory", "which windows were open at 14:10?"),
    ("seen", "when did I first see \"INC-4821\""),
    ("seen", "last time Globex was seen"),
    ("process_owner", "which process owned the Save As window?"),
    (
        "focus_duration",
        "how long was Relay focused between 09:00 and 12:00",
    ),
    (
        "elements",
        "which buttons were in the Save As window at 10:20:30?",
    ),
    ("count", "how many tabs were open in Firefox at 10:41"),
    (
        "sum",
        "what is the sum of the amounts shown in the budget at 10:41",
    ),
    (
        "elapsed",
        "how much time passed between \"Save As\" and \"confirm the Globex amount\"",
    ),
    ("bbox", "where was the \"Send\" button at 11:06?"),
    (
        "browser_chrome",
        "which tab was active in Firefox at 10:45?",
    ),
    ("correlate", "which apps showed \"DK-2291\"?"),
    (
        "windows_used",
        "which Relay channels did I look at between 09:00 and 17:00?",
    ),
    (
        "while",
        "which message arrived while the Save As dialog was open?",
    ),
    ("search", "Globex amount"),
    ("search", "app:firefox \"Q1 total\""),
];

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryBench {
    pub repeat: usize,
    pub overall: Percentiles,
    pub by_intent: BTreeMap<String, Percentiles>,
    pub slowest_query: String,
    pub states: BTreeMap<String, usize>,
}

fn percentiles(mut samples: Vec<f64>) -> Percentiles {
    samples.sort_by(f64::total_cmp);
    Percentiles {
        samples: samples.len(),
        p50_ms: rank(&samples, 0.50),
        p95_ms: rank(&samples, 0.95),
        p99_ms: rank(&samples, 0.99),
        max_ms: samples.last().copied().unwrap_or(0.0),
    }
}

/// The file that marks a cached DataRoot as completely built.
const READY: &str = "READY";

/// A DataRoot of `frames` frames of the default story (seed `seed`) under `cache`, built through
/// the real ingest on first use and reused afterwards; Stage 2 runs every time (a no-op when the
/// index is current, and it brings an index written by an older build up to date). The cache key
/// holds the story's hash and this build's version: a changed story or generator builds anew.
pub fn cached_data_root(cache: &Path, seed: u64, frames: u64) -> anyhow::Result<DataRoot> {
    let story = autocapture_core::contract::sha256_hex(
        format!(
            "{}\n{}",
            env!("CARGO_PKG_VERSION"),
            crate::corpus::story::DEFAULT_STORY
        )
        .as_bytes(),
    );
    let dir = cache.join(format!("query-f{frames}-s{seed}-{}", &story[..12]));
    if !dir.join(READY).is_file() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        eprintln!(
            "building a DataRoot of {frames} frames in {}",
            dir.display()
        );
        crate::corpus::build::ingested(&dir, seed, frames, 1)?;
        // The media live on as hard links (or copies) in the DataRoot.
        std::fs::remove_dir_all(dir.join("spool"))?;
        std::fs::write(dir.join(READY), format!("frames {frames} seed {seed}\n"))?;
    }
    let data = DataRoot::new(dir.join("data"));
    let clock = SteppingClock::new(crate::corpus::build::BUILD_TIME, time::Duration::ZERO);
    let report = crate::corpus::build::index_while_idle(&data, &clock)?;
    if report.frames_pending > 0 {
        anyhow::bail!(
            "Stage 2 left {} frames pending in {}",
            report.frames_pending,
            data.root.display()
        );
    }
    Ok(data)
}

/// Runs the mix `repeat` times (after one warm-up pass) on the DataRoot at `data_dir`.
pub fn bench_queries(data_dir: &Path, repeat: usize) -> anyhow::Result<QueryBench> {
    let handle = QueryHandle::open(&DataRoot::new(data_dir))?;
    let options = QueryOptions::default();
    let mut by_intent: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut slowest = (0.0, String::new());
    let mut states = BTreeMap::new();
    for pass in 0..=repeat {
        for (intent, question) in QUERY_MIX {
            let started = Instant::now();
            let answer = query::answer(&handle, question, &options)?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if pass == 0 {
                *states.entry(format!("{:?}", answer.state)).or_insert(0) += 1;
                continue;
            }
            if ms > slowest.0 {
                slowest = (ms, (*question).to_owned());
            }
            by_intent.entry((*intent).to_owned()).or_default().push(ms);
            all.push(ms);
        }
    }
    Ok(QueryBench {
        repeat,
        overall: percentiles(all),
        by_intent: by_intent
            .into_iter()
            .map(|(k, v)| (k, percentiles(v)))
            .collect(),
        slowest_query: slowest.1,
        states,
    })
}
