//! The retention SLA estimate (contract §10): service-time percentiles by nearest rank, capacity
//! per idle hour, the simulated burn-down at p99 (and at p95 for comparison), the verdict, and
//! the older mean-based lag. A pure function of the inputs and `now`.

use serde::Serialize;
use time::OffsetDateTime;

use super::inputs::Inputs;
use super::simulate::{Course, Scenario, simulate};

/// Pass only if no judged record reaches `horizon × (1 − margin)` unprocessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaVerdict {
    Pass,
    Fail,
}

impl SlaVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaVerdict::Pass => "pass",
            SlaVerdict::Fail => "fail",
        }
    }
}

/// Service time in microseconds at the nearest-rank percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
}

/// The simulated course at one service percentile, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    pub service_us: u64,
    pub capacity_per_idle_hour: f64,
    pub weekly_capacity: f64,
    /// Weekly capacity over weekly arrivals; `None` when nothing arrives.
    pub headroom_ratio: Option<f64>,
    pub projected_catchup_hours: Option<f64>,
    pub max_oldest_age_hours: f64,
    pub first_risk_crossing_hours: Option<f64>,
    pub first_reap_crossing_hours: Option<f64>,
    pub reaped_records: f64,
    pub verdict: SlaVerdict,
}

/// What the original estimator said: mean throughput, no arrivals, no idle schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanBased {
    pub throughput_per_s: f64,
    pub lag_hours: f64,
    pub verdict: SlaVerdict,
}

/// The burn-down at p99, one point per minute from `now`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub backlog_records: Vec<f64>,
    pub oldest_age_hours: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub now_utc: String,
    pub horizon_hours: u32,
    pub margin: f64,
    /// `horizon × (1 − margin)`: the age no record may reach unprocessed.
    pub risk_age_hours: f64,
    pub workers: u32,
    pub samples: usize,
    pub percentiles: Percentiles,
    pub weekly_arrivals: u64,
    pub backlog_now: u64,
    pub oldest_age_now_hours: f64,
    /// The verdict's projection (p99).
    pub p99: Projection,
    /// The same at p95, for comparison (never stricter than p99).
    pub p95: Projection,
    pub mean_based: MeanBased,
    pub verdict: SlaVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
}

/// The sample at percentile `pct` (1..=100) of the sorted `samples` by nearest rank
/// (`ceil(pct/100 · n) − 1`); 0 for no samples.
pub fn nearest_rank(sorted: &[u64], pct: u32) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(pct.clamp(1, 100)) * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

pub fn percentiles(samples: &[u64]) -> Percentiles {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    Percentiles {
        p50_us: nearest_rank(&sorted, 50),
        p95_us: nearest_rank(&sorted, 95),
        p99_us: nearest_rank(&sorted, 99),
    }
}

/// Minutes since Monday 00:00 UTC.
pub fn minute_of_week(at: OffsetDateTime) -> u64 {
    let at = at.to_offset(time::UtcOffset::UTC);
    u64::from(at.weekday().number_days_from_monday()) * 1440
        + u64::from(at.hour()) * 60
        + u64::from(at.minute())
}

fn hours(minutes: f64) -> f64 {
    minutes / 60.0
}

/// Estimates the SLA of `inputs` from `now` (the document's `now_utc` wins when it has one).
/// `with_series` keeps the per-minute burn-down for charts.
pub fn estimate(inputs: &Inputs, now: OffsetDateTime, with_series: bool) -> Estimate {
    let now = inputs.now.unwrap_or(now);
    let percentiles = percentiles(&inputs.samples_us);
    let horizon_minutes = u64::from(inputs.horizon_hours) * 60;
    let reap_seconds = horizon_minutes * 60;
    let risk_seconds = (reap_seconds as f64 * (1.0 - inputs.margin)).round() as u64;
    let mut backlog: Vec<(i64, u64)> = inputs
        .backlog
        .iter()
        .map(|g| {
            let age_s = (now - g.capture).whole_seconds().max(0);
            (-(age_s + 59).div_euclid(60), g.count)
        })
        .collect();
    backlog.sort_by_key(|(minute, _)| *minute);
    let backlog_now: u64 = backlog.iter().map(|(_, n)| n).sum();
    let oldest_age_now_hours = inputs
        .backlog
        .iter()
        .map(|g| (now - g.capture).whole_seconds().max(0) as f64 / 3600.0)
        .fold(0.0, f64::max);
    let weekly_arrivals: u64 = inputs.arrival_profile.iter().sum();
    let idle_hours: f64 = inputs.idle_schedule.iter().sum();
    let project = |service_us: u64| -> (Projection, Course) {
        let scenario = Scenario {
            service_us,
            workers: inputs.workers,
            idle_schedule: &inputs.idle_schedule,
            arrival_profile: &inputs.arrival_profile,
            start_minute_of_week: minute_of_week(now),
            backlog: &backlog,
            horizon_minutes,
            risk_seconds,
            reap_seconds,
        };
        let course = simulate(&scenario);
        let capacity_per_idle_hour =
            f64::from(inputs.workers) * 3_600_000_000.0 / service_us.max(1) as f64;
        let weekly_capacity = capacity_per_idle_hour * idle_hours;
        let projection = Projection {
            service_us,
            capacity_per_idle_hour,
            weekly_capacity,
            headroom_ratio: (weekly_arrivals > 0).then(|| weekly_capacity / weekly_arrivals as f64),
            projected_catchup_hours: course.catchup_minutes.map(hours),
            max_oldest_age_hours: hours(course.max_judged_age_minutes as f64),
            first_risk_crossing_hours: course.first_risk_minute.map(|m| hours(m as f64)),
            first_reap_crossing_hours: course.first_reap_minute.map(|m| hours(m as f64)),
            reaped_records: course.reaped_records,
            verdict: if course.first_risk_minute.is_none() {
                SlaVerdict::Pass
            } else {
                SlaVerdict::Fail
            },
        };
        (projection, course)
    };
    let (p99, course) = project(percentiles.p99_us);
    let (p95, _) = project(percentiles.p95_us);
    let total_us: u64 = inputs.samples_us.iter().sum();
    let throughput_per_s = inputs.samples_us.len() as f64 / (total_us.max(1) as f64 / 1e6);
    let lag_hours = backlog_now as f64 / throughput_per_s / 3600.0;
    let mean_based = MeanBased {
        throughput_per_s,
        lag_hours,
        verdict: if lag_hours < risk_seconds as f64 / 3600.0 {
            SlaVerdict::Pass
        } else {
            SlaVerdict::Fail
        },
    };
    let series = with_series.then(|| Series {
        backlog_records: course.backlog_records.clone(),
        oldest_age_hours: course
            .oldest_age_minutes
            .iter()
            .map(|m| hours(*m as f64))
            .collect(),
    });
    Estimate {
        now_utc: autocapture_core::contract::format_ts_utc(now),
        horizon_hours: inputs.horizon_hours,
        margin: inputs.margin,
        risk_age_hours: risk_seconds as f64 / 3600.0,
        workers: inputs.workers,
        samples: inputs.samples_us.len(),
        percentiles,
        weekly_arrivals,
        backlog_now,
        oldest_age_now_hours,
        verdict: p99.verdict,
        p99,
        p95,
        mean_based,
        series,
    }
}

fn opt_hours(value: Option<f64>) -> String {
    value.map_or_else(|| "never".to_owned(), |h| format!("{h:.2} h"))
}

/// The estimate for people, one figure per line.
pub fn describe(estimate: &Estimate) -> String {
    let p = &estimate.percentiles;
    let mut lines = vec![
        format!(
            "verdict {} (no record may reach {:.1} h unprocessed; horizon {} h, margin {})",
            estimate.verdict.as_str(),
            estimate.risk_age_hours,
            estimate.horizon_hours,
            estimate.margin
        ),
        format!("from {}", estimate.now_utc),
        format!(
            "service time over {} samples: p50 {} us, p95 {} us, p99 {} us; {} workers",
            estimate.samples, p.p50_us, p.p95_us, p.p99_us, estimate.workers
        ),
        format!(
            "backlog now {} records, oldest {:.2} h; weekly arrivals {}",
            estimate.backlog_now, estimate.oldest_age_now_hours, estimate.weekly_arrivals
        ),
    ];
    for (name, projection) in [("p99", &estimate.p99), ("p95", &estimate.p95)] {
        lines.push(format!(
            "at {name}: {:.0} records per idle hour, headroom {}, catch-up {}, max oldest age {:.2} h, risk crossing {}, reap crossing {}, reaped {:.0}, verdict {}",
            projection.capacity_per_idle_hour,
            projection
                .headroom_ratio
                .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}x")),
            opt_hours(projection.projected_catchup_hours),
            projection.max_oldest_age_hours,
            opt_hours(projection.first_risk_crossing_hours),
            opt_hours(projection.first_reap_crossing_hours),
            projection.reaped_records,
            projection.verdict.as_str()
        ));
    }
    lines.push(format!(
        "mean-based (older estimator): {:.1} records/s, lag {:.2} h, verdict {}",
        estimate.mean_based.throughput_per_s,
        estimate.mean_based.lag_hours,
        estimate.mean_based.verdict.as_str()
    ));
    lines.join("\n") + "\n"
}
