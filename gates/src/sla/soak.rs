//! The soak: an accelerated multi-day replay that checks the estimator against the real
//! pipeline. Each simulated day is a generated workday whose handoffs land in a live spool when
//! their last frame has been captured; the real drain, Stage 2 (under a scripted activity
//! schedule: the user is active 09:00–18:00 UTC, idle otherwise) and a query run in a loop whose
//! simulated clock runs `speedup` times faster than the wall clock. The observed backlog and age
//! of the oldest unprocessed frame are then compared with the estimator's projection for the
//! same inputs (arrivals from the generated handoffs, the scripted idle schedule, the run's own
//! processing trace scaled by the speedup).
//!
//! It fails on a crash loop (three failed drain or Stage-2 passes in a row), a lost handoff (a
//! landed handoff without a valid marker, or ingested frames missing from Stage 1), a query in
//! the `error` state, or an observed oldest age worse than the projection plus the tolerance
//! (landing delay of a handoff plus one loop step).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use autocapture_core::base::clock::Clock;
use autocapture_core::base::durable::write_atomic;
use autocapture_core::contract::{format_ts_utc, parse_ts_utc};
use autocapture_core::query::{self, AnswerState, QueryHandle, QueryOptions};
use autocapture_core::stage1::drain::{Budget, DrainOptions, DrainState, drain};
use autocapture_core::stage1::ingest::IngestOptions;
use autocapture_core::stage1::marker::{self, MarkerState};
use autocapture_core::stage2::{Stage2Options, TRACE_FILE, run_stage2};
use autocapture_core::store::{DERIVED_DIR, DataRoot};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::chart::burn_down_svg;
use super::estimate::{Estimate, estimate, minute_of_week};
use super::inputs::{HOURS_PER_WEEK, Inputs, parse_trace};
use crate::corpus::generate::{GenerateOptions, generate};
use crate::corpus::story::Story;

/// The soak starts on a Monday at midnight UTC (hour 0 of the week).
pub const SOAK_START: OffsetDateTime = datetime!(2026-02-16 00:00:00 UTC);
/// The scripted user is active from this hour (UTC) ...
pub const ACTIVE_FROM_HOUR: u8 = 9;
/// ... until this hour, every day.
pub const ACTIVE_UNTIL_HOUR: u8 = 18;
/// Handoffs per simulated day.
const HANDOFFS_PER_DAY: u32 = 8;
/// Consecutive failed passes that make a crash loop.
const CRASH_LOOP: u32 = 3;

#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Simulated days (1..=7: the projection's profiles are weekly).
    pub days: u32,
    /// Simulated seconds per wall second.
    pub speedup: f64,
    /// Stop after this many wall minutes; the comparison covers the span reached.
    pub wall_minutes: Option<f64>,
    pub frames_per_day: u64,
    pub out: PathBuf,
    pub seed: u64,
    /// A planted fault for tests: the script keeps the user active all the time while the
    /// projection still assumes the schedule, so the observed burn-down must come out worse.
    pub plant_always_active: bool,
}

/// One look at the pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub sim_minute: u64,
    pub pending_frames: u64,
    pub oldest_age_hours: f64,
    pub allowed_age_hours: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub days: u32,
    pub speedup: f64,
    pub wall_seconds: f64,
    pub simulated_hours: f64,
    pub iterations: u64,
    pub handoffs_generated: u64,
    pub handoffs_landed: u64,
    pub handoffs_ingested: u64,
    pub frames_landed: u64,
    pub frames_ingested: u64,
    pub frames_searchable: u64,
    pub queries: u64,
    pub query_errors: u64,
    pub pass_failures: Vec<String>,
    pub crash_loop: bool,
    pub lost_handoffs: Vec<String>,
    pub tolerance_hours: f64,
    pub observed_max_oldest_age_hours: f64,
    pub projected_max_oldest_age_hours: f64,
    pub observed_max_backlog: u64,
    pub projected_max_backlog: f64,
    /// Observed age minus allowed age at the worst observation (≤ 0 when the burn-down held).
    pub worst_excess_hours: f64,
    pub projection_p99_ms: f64,
    pub observations: Vec<Observation>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        !self.crash_loop
            && self.lost_handoffs.is_empty()
            && self.query_errors == 0
            && !self.observations.is_empty()
            && self.worst_excess_hours <= 0.0
    }

    /// The report for people.
    pub fn describe(&self) -> String {
        format!(
            "soak {}: {:.1} simulated hours in {:.1} s ({} passes, speedup {})\n\
             handoffs generated {}, landed {}, ingested {}; frames landed {}, ingested {}, searchable {}\n\
             queries {} ({} errors); failed passes {}; crash loop {}; lost handoffs {:?}\n\
             oldest unprocessed age: observed max {:.2} h, projected max {:.2} h, tolerance {:.2} h, worst excess {:.2} h\n\
             backlog: observed max {}, projected max {:.0}; projection p99 {:.3} ms per frame in simulated time\n",
            if self.passed() { "pass" } else { "fail" },
            self.simulated_hours,
            self.wall_seconds,
            self.iterations,
            self.speedup,
            self.handoffs_generated,
            self.handoffs_landed,
            self.handoffs_ingested,
            self.frames_landed,
            self.frames_ingested,
            self.frames_searchable,
            self.queries,
            self.query_errors,
            self.pass_failures.len(),
            self.crash_loop,
            self.lost_handoffs,
            self.observed_max_oldest_age_hours,
            self.projected_max_oldest_age_hours,
            self.tolerance_hours,
            self.worst_excess_hours,
            self.observed_max_backlog,
            self.projected_max_backlog,
            self.projection_p99_ms,
        )
    }
}

/// Simulated time: `start + wall elapsed × speedup`.
struct AcceleratedClock {
    wall_start: Instant,
    sim_start: OffsetDateTime,
    speedup: f64,
}

impl Clock for AcceleratedClock {
    fn now(&self) -> OffsetDateTime {
        let sim = self.wall_start.elapsed().as_secs_f64() * self.speedup;
        self.sim_start + Duration::seconds_f64(sim)
    }
}

/// A generated handoff waiting to land.
struct Staged {
    name: String,
    staged: PathBuf,
    first: OffsetDateTime,
    land_at: OffsetDateTime,
    frames: u64,
    landed: bool,
}

/// Whether the scripted user is idle at `at`.
fn scripted_idle(at: OffsetDateTime, plant_always_active: bool) -> bool {
    !plant_always_active && !(ACTIVE_FROM_HOUR..ACTIVE_UNTIL_HOUR).contains(&at.hour())
}

/// The scripted schedule as the estimator's idle fractions.
pub fn scripted_idle_schedule() -> Vec<f64> {
    (0..HOURS_PER_WEEK)
        .map(|h| {
            let hour = (h % 24) as u8;
            if (ACTIVE_FROM_HOUR..ACTIVE_UNTIL_HOUR).contains(&hour) {
                0.0
            } else {
                1.0
            }
        })
        .collect()
}

fn stage_days(options: &SoakOptions, staging: &Path) -> anyhow::Result<Vec<Staged>> {
    let mut staged = Vec::new();
    for day in 0..options.days {
        let mut story = Story::default_story()?;
        story.day.date = (SOAK_START + Duration::days(i64::from(day)))
            .date()
            .to_string();
        story.day.run_id = format!("soak{day}");
        let out = staging.join(format!("day{day}"));
        generate(
            &story,
            &GenerateOptions {
                out: out.clone(),
                seed: options.seed + u64::from(day),
                frames: options.frames_per_day,
                handoffs: HANDOFFS_PER_DAY.min(options.frames_per_day as u32),
            },
        )?;
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("truth.json"))?)?;
        for handoff in truth["handoffs"]
            .as_array()
            .context("truth.json has no handoffs")?
        {
            let name = handoff["name"].as_str().context("handoff without name")?;
            let ts = |key: &str| -> anyhow::Result<OffsetDateTime> {
                Ok(parse_ts_utc(
                    handoff[key].as_str().context("handoff without times")?,
                )?)
            };
            staged.push(Staged {
                name: name.to_owned(),
                staged: out.join(name),
                first: ts("first_ts_utc")?,
                land_at: ts("last_ts_utc")?,
                frames: handoff["frames"].as_u64().unwrap_or(0),
                landed: false,
            });
        }
    }
    staged.sort_by_key(|s| s.land_at);
    Ok(staged)
}

/// Frames in the evidence store, frames searchable, Stage-1-complete frames not yet searchable,
/// and the capture time of the oldest of those.
fn pending(data: &DataRoot) -> anyhow::Result<(u64, u64, u64, Option<OffsetDateTime>)> {
    if !data.metadata_db().exists() || !data.derived_db().exists() {
        return Ok((0, 0, 0, None));
    }
    let conn = Connection::open_with_flags(
        autocapture_core::store::read_only_uri(&data.metadata_db()),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute(
        "ATTACH DATABASE ?1 AS d",
        [autocapture_core::store::read_only_uri(&data.derived_db())],
    )?;
    // Stage 2 creates its index only when it first runs idle: until then nothing is searchable.
    let indexed = data.stage2_db().exists();
    if indexed {
        conn.execute(
            "ATTACH DATABASE ?1 AS s",
            [autocapture_core::store::read_only_uri(&data.stage2_db())],
        )?;
    }
    let (searchable, not_indexed) = if indexed {
        (
            "(SELECT count(*) FROM s.search_frames)",
            "NOT EXISTS (SELECT 1 FROM s.search_frames f WHERE f.frame_id = x.source_record_id)",
        )
    } else {
        ("0", "1")
    };
    let (frames, searchable, waiting, oldest): (i64, i64, i64, Option<String>) = conn.query_row(
        &format!(
            "SELECT (SELECT count(*) FROM main.metadata WHERE record_type = 'evidence.capture.frame'),
                    {searchable}, count(*), min(x.ts_utc)
             FROM d.derived x WHERE x.record_type = ?1 AND {not_indexed}"
        ),
        [autocapture_core::stage1::derive::STAGE1_COMPLETE_RECORD_TYPE],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let oldest = oldest.map(|t| parse_ts_utc(&t)).transpose()?;
    Ok((frames as u64, searchable as u64, waiting as u64, oldest))
}

/// Runs the soak in `options.out` (cleared first).
pub fn soak(options: &SoakOptions) -> anyhow::Result<SoakReport> {
    if !(1..=7).contains(&options.days) {
        bail!("--days must be between 1 and 7 (the projection's profiles are weekly)");
    }
    if !(options.speedup.is_finite() && options.speedup >= 1.0) {
        bail!("--speedup must be at least 1");
    }
    if options.frames_per_day < u64::from(HANDOFFS_PER_DAY) {
        bail!("--frames-per-day must be at least {HANDOFFS_PER_DAY}");
    }
    let out = &options.out;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clear {}", out.display()))?;
    }
    let (staging, spool) = (out.join("staging"), out.join("spool"));
    std::fs::create_dir_all(&spool)?;
    let mut staged = stage_days(options, &staging)?;
    let data = DataRoot::new(out.join("data"));
    std::fs::create_dir_all(&data.root)?;
    let signal = data.root.join("activity_signal.json");
    // The signal must stay fresh for a few wall seconds of a pass, in simulated time.
    let fresh_seconds = (5.0 * options.speedup).ceil().min(f64::from(u32::MAX)) as u32;
    let sim_end = SOAK_START + Duration::days(i64::from(options.days));
    let clock = AcceleratedClock {
        wall_start: Instant::now(),
        sim_start: SOAK_START,
        speedup: options.speedup,
    };
    let wall_limit = options.wall_minutes.map(|m| m * 60.0);
    let (mut iterations, mut consecutive, mut queries, mut query_errors) = (0u64, 0u32, 0u64, 0u64);
    let mut pass_failures = Vec::new();
    let mut crash_loop = false;
    let mut observed: Vec<(u64, u64, f64)> = Vec::new();
    let mut last_step_minutes = 0u64;
    let mut previous_minute = 0u64;
    loop {
        let now = clock.now();
        let wall = clock.wall_start.elapsed().as_secs_f64();
        if now >= sim_end || wall_limit.is_some_and(|limit| wall >= limit) {
            break;
        }
        iterations += 1;
        for handoff in staged.iter_mut().filter(|s| !s.landed && s.land_at <= now) {
            std::fs::rename(&handoff.staged, spool.join(&handoff.name))
                .with_context(|| format!("land {}", handoff.name))?;
            handoff.landed = true;
        }
        let idle = scripted_idle(now, options.plant_always_active);
        let body = format!(
            r#"{{"ts_utc":"{}","idle_seconds":{},"user_active":{}}}"#,
            format_ts_utc(now),
            if idle { 600 } else { 0 },
            !idle
        );
        write_atomic(&data.root, "activity_signal.json", body.as_bytes())?;
        let mut failed = None;
        match drain(
            &spool,
            &data,
            &DrainOptions {
                budget: Budget::IdleMax,
                activity_signal: Some(signal.clone()),
                fresh_seconds,
                include_marked: false,
                fail_fast: false,
                ingest: IngestOptions::default(),
                cores: 1,
            },
            &clock,
            &mut |_| {},
        ) {
            Ok(report) if report.state == DrainState::Failed => {
                failed = Some(format!("drain: {} handoffs failed", report.totals.failed));
            }
            Ok(_) => {}
            Err(e) => failed = Some(format!("drain [{}]: {e}", e.code())),
        }
        let stage2_options = Stage2Options {
            activity_signal: Some(signal.clone()),
            fresh_seconds,
            gate_override: Default::default(),
        };
        if data.derived_db().exists()
            && let Err(e) = run_stage2(&data, &stage2_options, &clock)
        {
            failed = Some(format!("stage2 [{}]: {e}", e.code()));
        }
        if data.stage2_db().exists() {
            match QueryHandle::open(&data) {
                Ok(handle) => {
                    queries += 1;
                    match query::answer(&handle, "what was I working on", &QueryOptions::default())
                    {
                        Ok(answer) if answer.state != AnswerState::Error => {}
                        _ => query_errors += 1,
                    }
                }
                Err(_) => query_errors += 1,
            }
        }
        match failed {
            Some(reason) => {
                consecutive += 1;
                pass_failures.push(format!("{}: {reason}", format_ts_utc(now)));
                if consecutive >= CRASH_LOOP {
                    crash_loop = true;
                    break;
                }
            }
            None => consecutive = 0,
        }
        let minute = ((clock.now() - SOAK_START).whole_seconds().max(0) / 60) as u64;
        let (_, _, waiting, oldest) = pending(&data)?;
        let at = SOAK_START + Duration::minutes(minute as i64);
        let age = oldest.map_or(0.0, |o| (at - o).as_seconds_f64().max(0.0) / 3600.0);
        last_step_minutes = last_step_minutes.max(minute.saturating_sub(previous_minute));
        previous_minute = minute;
        observed.push((minute, waiting, age));
    }
    let wall_seconds = clock.wall_start.elapsed().as_secs_f64();
    let (frames_ingested, frames_searchable, _, _) = pending(&data)?;
    let mut lost_handoffs = Vec::new();
    let (mut landed, mut ingested, mut frames_landed) = (0u64, 0u64, 0u64);
    for handoff in staged.iter().filter(|s| s.landed) {
        landed += 1;
        frames_landed += handoff.frames;
        match marker::read(&spool.join(&handoff.name)) {
            MarkerState::Valid(_) => ingested += 1,
            _ => lost_handoffs.push(handoff.name.clone()),
        }
    }
    if lost_handoffs.is_empty() && frames_ingested != frames_landed {
        lost_handoffs.push(format!(
            "{frames_landed} frames landed but {frames_ingested} reached the evidence store"
        ));
    }

    // The projection for the same inputs, in simulated time.
    let trace_path = data.root.join(DERIVED_DIR).join(TRACE_FILE);
    let trace = std::fs::read_to_string(&trace_path).unwrap_or_default();
    let samples: Vec<u64> = parse_trace(&trace, &trace_path)?
        .into_iter()
        .map(|us| (us as f64 * options.speedup).round() as u64)
        .collect();
    let mut arrival_profile = vec![0u64; HOURS_PER_WEEK];
    for handoff in &staged {
        let span = (handoff.land_at - handoff.first).as_seconds_f64().max(0.0);
        for i in 0..handoff.frames {
            let offset = span * i as f64 / (handoff.frames.max(2) - 1) as f64;
            let at = handoff.first + Duration::seconds_f64(offset);
            arrival_profile[(minute_of_week(at) / 60) as usize] += 1;
        }
    }
    let inputs = Inputs {
        now: Some(SOAK_START),
        horizon_hours: (options.days * 24).max(144),
        margin: 0.2,
        samples_us: if samples.is_empty() { vec![1] } else { samples },
        workers: 1,
        idle_schedule: scripted_idle_schedule(),
        arrival_profile,
        backlog: Vec::new(),
    };
    let projection: Estimate = estimate(&inputs, SOAK_START, true);
    let series = projection
        .series
        .clone()
        .unwrap_or(super::estimate::Series {
            backlog_records: Vec::new(),
            oldest_age_hours: Vec::new(),
        });
    let landing_delay_minutes = staged
        .iter()
        .map(|s| (s.land_at - s.first).whole_minutes().max(0) as u64)
        .max()
        .unwrap_or(0);
    let tolerance_minutes = landing_delay_minutes + last_step_minutes + 1;
    let tolerance_hours = tolerance_minutes as f64 / 60.0;
    let projected_at = |minute: u64| -> f64 {
        let from = minute.saturating_sub(tolerance_minutes) as usize;
        let to = (minute as usize + 1).min(series.oldest_age_hours.len());
        series
            .oldest_age_hours
            .get(from.min(to)..to)
            .map_or(0.0, |w| w.iter().copied().fold(0.0, f64::max))
    };
    let observations: Vec<Observation> = observed
        .iter()
        .map(
            |&(sim_minute, pending_frames, oldest_age_hours)| Observation {
                sim_minute,
                pending_frames,
                oldest_age_hours,
                allowed_age_hours: projected_at(sim_minute) + tolerance_hours,
            },
        )
        .collect();
    let worst_excess_hours = observations
        .iter()
        .map(|o| o.oldest_age_hours - o.allowed_age_hours)
        .fold(f64::NEG_INFINITY, f64::max);
    if let Some(svg) = burn_down_svg("soak projection", &projection)? {
        std::fs::write(out.join("soak-projection.svg"), svg)?;
    }
    let report = SoakReport {
        days: options.days,
        speedup: options.speedup,
        wall_seconds,
        simulated_hours: wall_seconds * options.speedup / 3600.0,
        iterations,
        handoffs_generated: staged.len() as u64,
        handoffs_landed: landed,
        handoffs_ingested: ingested,
        frames_landed,
        frames_ingested,
        frames_searchable,
        queries,
        query_errors,
        pass_failures,
        crash_loop,
        lost_handoffs,
        tolerance_hours,
        observed_max_oldest_age_hours: observations
            .iter()
            .map(|o| o.oldest_age_hours)
            .fold(0.0, f64::max),
        projected_max_oldest_age_hours: projection.p99.max_oldest_age_hours,
        observed_max_backlog: observations
            .iter()
            .map(|o| o.pending_frames)
            .max()
            .unwrap_or(0),
        projected_max_backlog: series.backlog_records.iter().copied().fold(0.0, f64::max),
        worst_excess_hours: if worst_excess_hours.is_finite() {
            worst_excess_hours
        } else {
            0.0
        },
        projection_p99_ms: projection.percentiles.p99_us as f64 / 1000.0,
        observations,
    };
    std::fs::write(
        out.join("soak-report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    Ok(report)
}
