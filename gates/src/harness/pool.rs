//! Independent pieces of work on a few threads, their results in the order of the work.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `run` on every job, on at most `workers` threads (at least one); the results in job
/// order. A job that panics is an error naming the job's position, never a missing result.
pub fn parallel<T: Sync, R: Send>(
    jobs: &[T],
    workers: usize,
    run: impl Fn(&T) -> R + Sync,
) -> anyhow::Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, String>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let result = catch_unwind(AssertUnwindSafe(|| run(job))).map_err(|panic| {
                        panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|| "unknown panic".to_owned())
                    });
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(result);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("the results' lock was poisoned"))?;
    results
        .into_iter()
        .enumerate()
        .map(|(i, result)| match result {
            Some(Ok(value)) => Ok(value),
            Some(Err(panic)) => Err(anyhow::anyhow!("job {i} panicked: {panic}")),
            None => Err(anyhow::anyhow!("job {i} was never run")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_jobs_on_any_number_of_workers() {
        let jobs: Vec<u64> = (0..50).collect();
        for workers in [0, 1, 3, 64] {
            let out = parallel(&jobs, workers, |j| j * 2).expect("no panic");
            assert_eq!(out, jobs.iter().map(|j| j * 2).collect::<Vec<_>>());
        }
        assert!(parallel(&[] as &[u8], 2, |_| ()).expect("empty").is_empty());
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_missing_result() {
        let jobs: Vec<u64> = (0..10).collect();
        let error = parallel(&jobs, 3, |j| {
            assert!(*j != 7, "planted panic at seven");
            *j
        })
        .expect_err("a job panicked");
        let text = format!("{error}");
        assert!(
            text.contains("job 7 panicked: planted panic at seven"),
            "{text}"
        );
    }
}
