//! The Stage-1 context: while a thread runs Stage-1 work (a handoff ingest, a drain), heavy entry
//! points ([`crate::stage2::run_stage2`], [`crate::query::QueryHandle::open`]) refuse to run there
//! with the stable code [`HEAVY_IN_STAGE1_CONTEXT`]. Stage 1 must stay cheap and
//! decoder-free; the `import-guard` gate proves the same statically (crates, modules) and at run
//! time (mapped libraries).
//!
//! The context is per thread: a scope entered by ingest does not affect an unrelated thread of the
//! same process (a server answering queries next to a drain). Scopes nest.

use std::cell::Cell;

/// The code heavy entry points return when called inside a Stage-1 context.
pub const HEAVY_IN_STAGE1_CONTEXT: &str = "heavy_in_stage1_context";

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// A Stage-1 scope on the current thread; leaving it (drop) restores the previous state.
#[must_use = "the Stage-1 context lasts as long as the scope value"]
pub struct Stage1Scope {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Enters a Stage-1 context on this thread until the returned scope is dropped.
pub fn enter() -> Stage1Scope {
    DEPTH.with(|depth| depth.set(depth.get().saturating_add(1)));
    Stage1Scope {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for Stage1Scope {
    fn drop(&mut self) {
        DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// True while this thread is inside a Stage-1 scope.
pub fn active() -> bool {
    DEPTH.with(|depth| depth.get() > 0)
}

/// A heavy entry point was called inside a Stage-1 context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry} refused: called inside a Stage-1 context (heavy work never runs in Stage 1)")]
pub struct HeavyInStage1 {
    /// The refused entry point, e.g. `stage2::run_stage2`.
    pub entry: &'static str,
}

impl HeavyInStage1 {
    pub fn code(&self) -> &'static str {
        HEAVY_IN_STAGE1_CONTEXT
    }
}

/// `Err` when this thread is inside a Stage-1 context; heavy entry points call it first.
pub fn refuse_heavy(entry: &'static str) -> Result<(), HeavyInStage1> {
    if active() {
        Err(HeavyInStage1 { entry })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_end_with_their_value() {
        assert!(!active());
        assert!(refuse_heavy("x").is_ok());
        let outer = enter();
        let inner = enter();
        assert_eq!(
            refuse_heavy("stage2::run_stage2").map_err(|e| (e.code(), e.entry)),
            Err((HEAVY_IN_STAGE1_CONTEXT, "stage2::run_stage2"))
        );
        drop(inner);
        assert!(active(), "the outer scope still holds");
        drop(outer);
        assert!(!active());
        assert!(refuse_heavy("x").is_ok());
    }

    #[test]
    fn the_context_is_per_thread() {
        let _scope = enter();
        let other = std::thread::spawn(active).join().expect("thread");
        assert!(
            !other,
            "another thread is not in this thread's Stage-1 context"
        );
        assert!(active());
    }
}
