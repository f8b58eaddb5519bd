//! The step definitions of the `@hypervisor` and `@both` scenarios, as the Hypervisor's side runs
//! them through an adapter: each one line into the world, through [`HypervisorWorld::step`],
//! which records the step and rule at fault.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::world::HypervisorWorld;

type Outcome = anyhow::Result<()>;

// ---- the producer: handoff_ingest.feature, uia.feature ----

#[given("the Hypervisor has finished writing a handoff")]
fn finished_writing(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::finished_writing_a_handoff)
}

#[when("it moves the handoff into the spool")]
fn moves_into_spool(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::close_all)
}

#[then("the handoff holds metadata.db and every media file its rows reference")]
fn holds_everything(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, |w| w.judge(&step.value))
}

#[then("no process of the Hypervisor still writes to it")]
fn nothing_writes(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, |w| w.judge(&step.value))
}

#[given(expr = "the Hypervisor captures a frame in run {string}")]
fn captures_in_run(w: &mut HypervisorWorld, step: &Step, run_id: String) -> Outcome {
    w.step(step, |w| w.captures_in_run(&run_id))
}

#[when("it writes the frame's row")]
fn writes_frame_row(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::produce)
}

#[then(expr = "the row's id is {string}")]
fn row_id_is(w: &mut HypervisorWorld, step: &Step, id: String) -> Outcome {
    w.step(step, |w| {
        w.first_frame_id_is("the row's id is {string}", &id)
    })
}

#[given("the Hypervisor writes a handoff's metadata table")]
fn writes_metadata_table(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::writes_two_handoffs)
}

#[when("it writes a row")]
fn writes_a_row(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::produce)
}

#[then("the row's id is stored as TEXT")]
fn id_is_text(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, |w| w.judge(&step.value))
}

#[then("no other row of the handoff or of an earlier handoff has that id with other values")]
fn id_never_reused(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, |w| w.judge(&step.value))
}

#[given(expr = "a generated handoff in the {string} layout")]
fn generated_handoff(w: &mut HypervisorWorld, step: &Step, layout: String) -> Outcome {
    w.step(step, |w| w.generated_handoff(&layout))
}

#[then(expr = "every record id of the handoff has the form {string}")]
fn ids_have_form(w: &mut HypervisorWorld, step: &Step, form: String) -> Outcome {
    w.step(step, |w| {
        w.ids_have_form(
            "every record id of the handoff has the form {string}",
            &form,
        )
    })
}

#[given("the Hypervisor captures a frame and walks the focused window's UIA tree")]
fn captures_with_uia(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, |_| Ok(()))
}

#[then("the frame's uia_ref names the snapshot's record_id and content_hash")]
fn uia_ref_links(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, |w| w.frames_link_their_snapshots(&step.value))
}

#[given("the Hypervisor has walked a UIA snapshot")]
fn walked_snapshot(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::walks_a_snapshot_for_the_fallback)
}

#[when("it writes uia/latest.snap.json")]
fn writes_fallback(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::produce)
}

#[then("it writes uia/latest.snap.sha256 holding the sha256 of the file's bytes")]
fn fallback_sidecar(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::fallback_has_sidecar)
}

// ---- the reaper: reap_marker.feature ----

#[given(expr = "a handoff in the spool with a reap_eligible.json whose schema is {string}")]
fn marked_handoff(w: &mut HypervisorWorld, step: &Step, schema: String) -> Outcome {
    w.step(step, |w| w.marked_handoff(&schema))
}

#[given("a handoff in the spool without a parseable v1 reap_eligible.json")]
fn untrusted_handoffs(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::untrusted_handoffs)
}

#[given(
    "a handoff in the spool with a valid v1 reap_eligible.json carrying audit_head seq and hash"
)]
fn marked_with_audit_head(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::marked_handoff_with_audit_head)
}

#[when("the reaper runs")]
fn reaper_runs(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::reaper_runs)
}

#[when("the reaper deletes the handoff")]
fn reaper_deletes(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::reaper_deletes)
}

#[then("the handoff is deleted")]
fn handoff_deleted(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::judge_reap)
}

#[then("the handoff is kept")]
fn handoff_kept(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::judge_reap)
}

#[then("it keeps the marker's dest_data_root, ingest_run_id and audit_head")]
fn witness_kept(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::witness_kept)
}

#[then(expr = "the latest audit_head it kept for a DataRoot can be checked with {string}")]
fn witness_verifies(w: &mut HypervisorWorld, step: &Step, command: String) -> Outcome {
    w.step(step, |w| w.witness_verifies(&command))
}

// ---- the activity publisher: activity.feature ----

#[given("the user is at the keyboard")]
fn user_at_keyboard(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::user_at_keyboard)
}

#[when("the Hypervisor writes activity/activity_signal.json")]
fn publisher_runs(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::publisher_runs)
}

#[then("it carries ts_utc, idle_seconds and user_active")]
fn signal_fields(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::signal_carries_fields)
}

#[then("it is rewritten at least every 5 seconds")]
fn signal_fresh(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::signal_stays_fresh)
}

// ---- the popup: popup.feature, loopback.feature ----

#[given("the popup server runs on 127.0.0.1:8787")]
fn server_on_default(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::server_on_default_bind)
}

#[when("the Hypervisor's popup connects")]
fn popup_connects(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::popup_asks)
}

#[then("it connects to 127.0.0.1 and to no other address")]
fn loopback_only(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::connects_to_loopback_only)
}

#[given("the Hypervisor's popup has fetched the token from /api/auth/token")]
fn token_fetched(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::server_with_token_route)
}

#[when("the user asks a question in the popup")]
fn user_asks(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::popup_asks)
}

#[then(expr = "the popup posts it to \\/api\\/query\\/popup with {string}")]
fn posts_with_bearer(w: &mut HypervisorWorld, step: &Step, header: String) -> Outcome {
    w.step(step, |w| w.posts_with_bearer(&header))
}

// ---- the contract identity: audit.feature ----

#[given(expr = "the sister document {string}")]
fn sister_document(w: &mut HypervisorWorld, step: &Step, path: String) -> Outcome {
    w.step(step, |w| w.sister_document(&path))
}

#[when(expr = "I run {string}")]
fn run_words(w: &mut HypervisorWorld, step: &Step, command: String) -> Outcome {
    w.step(step, |w| w.run_words(&command))
}

#[then("the command succeeds")]
fn command_succeeds(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::command_succeeds)
}

#[then("its contract_version and schema_hash equal the sister document's")]
fn identity_matches(w: &mut HypervisorWorld, step: &Step) -> Outcome {
    w.step(step, HypervisorWorld::identity_matches)
}
