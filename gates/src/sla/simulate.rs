//! The minute-resolution queue model behind the estimate: records arrive on the weekly profile,
//! Stage 2 works only in the idle share of each hour at a fixed per-record service time, the
//! backlog drains first in, first out, and records older than the horizon are reaped.
//!
//! Exact integer arithmetic: a record is 60 units (so an hour's arrivals spread evenly over its
//! minutes without rounding), work is counted in microseconds × 60, and the work left over at
//! the end of a minute is progress on the next unit, lost when the queue runs empty. This is a
//! work-conserving FIFO server, so its completion times only move later when arrivals, backlog
//! or service time grow and only move earlier when idle time or workers grow.

use std::collections::VecDeque;

use super::inputs::HOURS_PER_WEEK;

/// Units per record.
pub const UNITS_PER_RECORD: u64 = 60;
const MINUTES_PER_WEEK: u64 = HOURS_PER_WEEK as u64 * 60;

/// What to simulate. Minutes count from the start (`0` = the minute `now` falls in).
#[derive(Debug, Clone)]
pub struct Scenario<'a> {
    /// Per-record service time of one worker, in microseconds (at least 1).
    pub service_us: u64,
    pub workers: u32,
    /// Idle fraction per hour of the week.
    pub idle_schedule: &'a [f64],
    /// Records per hour of the week.
    pub arrival_profile: &'a [u64],
    /// Minute of the week (Monday 00:00 UTC = 0) the simulation starts in.
    pub start_minute_of_week: u64,
    /// The pending records at the start: (capture minute, ≤ 0, records), in capture order.
    pub backlog: &'a [(i64, u64)],
    /// Records pending at the start or arriving before this minute are judged.
    pub horizon_minutes: u64,
    /// A judged record this old (seconds) and unprocessed fails the verdict.
    pub risk_seconds: u64,
    /// A record this old (seconds) is reaped unprocessed.
    pub reap_seconds: u64,
}

/// The simulated course. Series entries are taken at the end of each minute.
#[derive(Debug, Clone, PartialEq)]
pub struct Course {
    /// Records pending.
    pub backlog_records: Vec<f64>,
    /// Age of the oldest pending record, in minutes (0 when none is pending).
    pub oldest_age_minutes: Vec<u64>,
    /// When the records pending at the start were all processed (minutes, exact within the
    /// minute); `None` when some were reaped first.
    pub catchup_minutes: Option<f64>,
    /// The greatest age a judged record reached unprocessed, in minutes.
    pub max_judged_age_minutes: u64,
    /// End of the first minute in which a judged record was at the risk age.
    pub first_risk_minute: Option<u64>,
    /// End of the first minute in which a judged record was reaped.
    pub first_reap_minute: Option<u64>,
    /// Judged records reaped unprocessed.
    pub reaped_records: f64,
}

#[derive(Debug, Clone, Copy)]
struct Cohort {
    minute: i64,
    units: u64,
    initial: bool,
}

/// Runs the model until every judged record is processed or reaped.
pub fn simulate(scenario: &Scenario<'_>) -> Course {
    let s = scenario.service_us.max(1);
    let workers = u64::from(scenario.workers.max(1));
    let idle_work: Vec<u64> = scenario
        .idle_schedule
        .iter()
        .map(|f| (f.clamp(0.0, 1.0) * 60_000_000.0).round() as u64 * workers * UNITS_PER_RECORD)
        .collect();
    let mut queue: VecDeque<Cohort> = VecDeque::new();
    let mut initial_units = 0u64;
    for &(minute, records) in scenario.backlog {
        let units = records.saturating_mul(UNITS_PER_RECORD);
        if units == 0 {
            continue;
        }
        initial_units += units;
        match queue.back_mut() {
            Some(last) if last.minute == minute => last.units += units,
            _ => queue.push_back(Cohort {
                minute,
                units,
                initial: true,
            }),
        }
    }
    let mut pending_units: u64 = initial_units;
    let mut course = Course {
        backlog_records: Vec::with_capacity(scenario.horizon_minutes as usize + 60),
        oldest_age_minutes: Vec::with_capacity(scenario.horizon_minutes as usize + 60),
        catchup_minutes: (initial_units == 0).then_some(0.0),
        max_judged_age_minutes: 0,
        first_risk_minute: None,
        first_reap_minute: None,
        reaped_records: 0.0,
    };
    let mut initial_reaped = false;
    let mut budget = 0u64;
    // Every judged record is settled by horizon + reap age; the bound only guards the loop.
    let last_minute = scenario.horizon_minutes + scenario.reap_seconds.div_ceil(60) + 1;
    for m in 0..last_minute {
        let hour = (((scenario.start_minute_of_week + m) % MINUTES_PER_WEEK) / 60) as usize;
        let arrivals = scenario.arrival_profile.get(hour).copied().unwrap_or(0);
        if arrivals > 0 {
            queue.push_back(Cohort {
                minute: m as i64,
                units: arrivals,
                initial: false,
            });
            pending_units += arrivals;
        }
        let carried = budget;
        let added = idle_work.get(hour).copied().unwrap_or(0);
        budget += added;
        while let Some(front) = queue.front_mut() {
            let done = front.units.min(budget / s);
            front.units -= done;
            budget -= done * s;
            pending_units -= done;
            if front.initial {
                initial_units -= done;
                if initial_units == 0 && done > 0 && !initial_reaped {
                    let spent = carried + added - budget;
                    let fraction = if added == 0 {
                        0.0
                    } else {
                        spent.saturating_sub(carried) as f64 / added as f64
                    };
                    course.catchup_minutes = Some(m as f64 + fraction);
                }
            }
            if front.units > 0 {
                break;
            }
            queue.pop_front();
        }
        if queue.is_empty() {
            budget = 0;
        }
        let now = m as i64 + 1;
        let judged = |c: &Cohort| c.minute < scenario.horizon_minutes as i64;
        while let Some(front) = queue.front() {
            let age = (now - front.minute) as u64;
            if judged(front) {
                course.max_judged_age_minutes = course.max_judged_age_minutes.max(age);
                if age * 60 >= scenario.risk_seconds && course.first_risk_minute.is_none() {
                    course.first_risk_minute = Some(now as u64);
                }
            }
            if age * 60 < scenario.reap_seconds {
                break;
            }
            if judged(front) {
                course.reaped_records += front.units as f64 / UNITS_PER_RECORD as f64;
                course.first_reap_minute.get_or_insert(now as u64);
            }
            if front.initial {
                initial_reaped = true;
                course.catchup_minutes = None;
            }
            pending_units -= front.units;
            queue.pop_front();
        }
        course
            .backlog_records
            .push(pending_units as f64 / UNITS_PER_RECORD as f64);
        course
            .oldest_age_minutes
            .push(queue.front().map_or(0, |c| (now - c.minute) as u64));
        let settled = queue.front().is_none_or(|c| !judged(c));
        if now as u64 >= scenario.horizon_minutes && settled {
            break;
        }
    }
    course
}
