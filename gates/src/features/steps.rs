//! The step definitions of `features/*.feature`: each one line into [`super::driver`]. Steps of
//! `@hypervisor` scenarios are the Hypervisor's and have no definition here.

use cucumber::{given, then, when};

use super::driver::ContractWorld;

type Step = anyhow::Result<()>;

// ---- handoffs, spools and DataRoots ----

#[given(expr = "a generated handoff in the {string} layout")]
fn generated_handoff(w: &mut ContractWorld, layout: String) -> Step {
    w.generated_handoff(&layout)
}

#[given("the DataRoot already holds another handoff")]
fn data_root_holds_another(w: &mut ContractWorld) -> Step {
    w.data_root_holds_another_handoff()
}

#[given("a spool of generated handoffs")]
fn a_spool(w: &mut ContractWorld) -> Step {
    w.a_spool()
}

#[given("an ingested handoff")]
fn ingested_handoff(w: &mut ContractWorld) -> Step {
    w.ingested_handoff()
}

#[given("an ingested and indexed DataRoot")]
fn indexed_data_root(w: &mut ContractWorld) -> Step {
    w.indexed_data_root()
}

#[given("a data dir that does not exist")]
fn missing_data_dir(w: &mut ContractWorld) -> Step {
    w.missing_data_dir()
}

#[given("the handoff has been ingested")]
fn handoff_has_been_ingested(w: &mut ContractWorld) -> Step {
    w.handoff_has_been_ingested()
}

#[given("the handoff's metadata.db is removed")]
fn remove_metadata_db(w: &mut ContractWorld) -> Step {
    w.remove_metadata_db()
}

#[given("the handoff's metadata.db is replaced by plain text")]
fn metadata_db_is_text(w: &mut ContractWorld) -> Step {
    w.metadata_db_is_text()
}

#[given("the handoff's metadata.db holds neither a metadata nor a records table")]
fn metadata_db_has_neither_table(w: &mut ContractWorld) -> Step {
    w.metadata_db_has_neither_table()
}

#[given(expr = "the first frame's blob_path is {string}")]
fn first_frame_blob_path(w: &mut ContractWorld, blob_path: String) -> Step {
    w.set_first_frame_blob_path(&blob_path)
}

#[given(expr = "a symlink to {string} is planted under the handoff's media")]
fn plant_symlink(w: &mut ContractWorld, target: String) -> Step {
    w.plant_symlink(&target)
}

#[given("the first frame's blob is removed")]
fn remove_first_blob(w: &mut ContractWorld) -> Step {
    w.remove_first_blob()
}

#[given("a byte of the first frame's blob is flipped")]
fn flip_first_blob_byte(w: &mut ContractWorld) -> Step {
    w.flip_first_blob_byte()
}

#[given("another process holds the DataRoot's instance lock")]
fn hold_instance_lock(w: &mut ContractWorld) -> Step {
    w.hold_instance_lock()
}

#[given("a second generated handoff whose metadata.db is removed")]
fn second_handoff_without_metadata(w: &mut ContractWorld) -> Step {
    w.second_handoff_without_metadata()
}

// ---- ingest and its outcome ----

#[when("I ingest the handoff")]
fn ingest(w: &mut ContractWorld) -> Step {
    w.ingest()
}

#[when("I ingest the second handoff")]
fn ingest_second(w: &mut ContractWorld) -> Step {
    w.ingest_second()
}

#[when("I ingest every handoff of the spool")]
fn ingest_every_handoff(w: &mut ContractWorld) -> Step {
    w.ingest_every_handoff()
}

#[then("the command succeeds")]
fn command_succeeds(w: &mut ContractWorld) -> Step {
    w.command_succeeds()
}

#[then(expr = "the command fails with exit code {int} and error code {string}")]
fn command_fails_with(w: &mut ContractWorld, exit: i32, code: String) -> Step {
    w.command_fails_with(exit, &code)
}

#[then(expr = "the command fails with exit code {int} and an error code starting with {string}")]
fn command_fails_with_prefix(w: &mut ContractWorld, exit: i32, prefix: String) -> Step {
    w.command_fails_with_prefix(exit, &prefix)
}

#[then("the DataRoot is unchanged")]
fn data_root_unchanged(w: &mut ContractWorld) -> Step {
    w.data_root_unchanged()
}

#[then("the DataRoot holds every row of the handoff with unchanged payload bytes")]
fn rows_unchanged(w: &mut ContractWorld) -> Step {
    w.rows_unchanged()
}

#[then("the DataRoot holds every media file of the handoff with unchanged bytes")]
fn media_unchanged(w: &mut ContractWorld) -> Step {
    w.media_unchanged()
}

#[then(expr = "the ingest reports the {string} layout")]
fn ingest_reports_layout(w: &mut ContractWorld, layout: String) -> Step {
    w.ingest_reports_layout(&layout)
}

#[then(expr = "the ingest copied {int} metadata rows")]
fn ingest_copied_rows(w: &mut ContractWorld, rows: u64) -> Step {
    w.ingest_copied_rows(rows)
}

#[then(expr = "every record id of the handoff has the form {string}")]
fn record_ids_have_form(w: &mut ContractWorld, form: String) -> Step {
    w.record_ids_have_form(&form)
}

// ---- the marker ----

#[then("the handoff has no reap marker")]
fn no_marker(w: &mut ContractWorld) -> Step {
    w.no_marker()
}

#[then("the handoff has a valid v1 reap marker")]
fn valid_marker(w: &mut ContractWorld) -> Step {
    w.valid_marker()
}

#[then("the first handoff has a valid v1 reap marker")]
fn first_spool_handoff_valid_marker(w: &mut ContractWorld) -> Step {
    w.first_spool_handoff_valid_marker()
}

#[then(expr = "the marker validates against the {string} schema")]
fn marker_validates(w: &mut ContractWorld, schema: String) -> Step {
    w.marker_validates(&schema)
}

#[then("the marker names the handoff and the DataRoot by absolute paths")]
fn marker_paths_absolute(w: &mut ContractWorld) -> Step {
    w.marker_paths_absolute()
}

#[then(expr = "the marker carries the contract_version and schema_hash that {string} prints")]
fn marker_carries_contract_identity(w: &mut ContractWorld, command: String) -> Step {
    w.marker_carries_contract_identity(&command)
}

#[then("no temporary file is left in the handoff or the DataRoot")]
fn no_temp_files(w: &mut ContractWorld) -> Step {
    w.no_temp_files()
}

#[then("the marker's counts.metadata_rows_copied equals the handoff's row count")]
fn marker_counts_rows(w: &mut ContractWorld) -> Step {
    w.marker_counts_rows()
}

#[then("the marker's integrity.rows_sha256 and integrity.media_sha256 are 64 lowercase hex digits")]
fn marker_digests_are_hex(w: &mut ContractWorld) -> Step {
    w.marker_digests_are_hex()
}

#[then(expr = "the marker's ingest_run_id has the form {string}")]
fn marker_run_id_form(w: &mut ContractWorld, form: String) -> Step {
    w.marker_run_id_form(&form)
}

#[then("the marker's integrity digests equal those of the first ingest")]
fn marker_digests_kept(w: &mut ContractWorld) -> Step {
    w.marker_digests_kept()
}

#[given(expr = "the first handoff's marker is replaced by {string}")]
fn replace_first_marker(w: &mut ContractWorld, text: String) -> Step {
    w.replace_first_marker(&text)
}

// ---- the drain and the activity signal ----

#[given("the spool has been drained")]
fn spool_drained(w: &mut ContractWorld) -> Step {
    w.spool_drained()
}

#[when("I drain the spool")]
fn drain(w: &mut ContractWorld) -> Step {
    w.drain("")
}

#[when(expr = "I drain the spool with {string}")]
fn drain_with(w: &mut ContractWorld, extra: String) -> Step {
    w.drain(&extra)
}

#[then(expr = "every handoff of the spool is reported as {string}")]
fn every_handoff_reported(w: &mut ContractWorld, status: String) -> Step {
    w.every_handoff_reported(&status)
}

#[then(expr = "the first handoff of the spool is reported as {string}")]
fn first_handoff_reported(w: &mut ContractWorld, status: String) -> Step {
    w.first_handoff_reported(&status)
}

#[then(expr = "the drain reports the state {string}")]
fn drain_state(w: &mut ContractWorld, state: String) -> Step {
    w.drain_state(&state)
}

#[then("no handoff of the spool has a reap marker")]
fn no_spool_marker(w: &mut ContractWorld) -> Step {
    w.no_spool_marker()
}

#[given(expr = "an activity signal {int} seconds old saying the user is idle")]
fn idle_signal(w: &mut ContractWorld, age: i64) -> Step {
    w.signal(age, false)
}

#[given(expr = "an activity signal {int} seconds old saying the user is active")]
fn active_signal(w: &mut ContractWorld, age: i64) -> Step {
    w.signal(age, true)
}

#[given(expr = "an activity signal file holding {string}")]
fn signal_text(w: &mut ContractWorld, text: String) -> Step {
    w.signal_text(&text)
}

#[given("no activity signal")]
fn no_signal(w: &mut ContractWorld) -> Step {
    w.no_signal()
}

#[when("I run Stage 2")]
fn stage2(w: &mut ContractWorld) -> Step {
    w.stage2()
}

#[then(expr = "Stage 2 reports the state {string} for the reason {string}")]
fn stage2_state(w: &mut ContractWorld, state: String, reason: String) -> Step {
    w.stage2_state(&state, &reason)
}

#[then("Stage 2 processed at least one frame")]
fn stage2_processed_some(w: &mut ContractWorld) -> Step {
    w.stage2_processed_some()
}

#[then("Stage 2 processed no frame")]
fn stage2_processed_none(w: &mut ContractWorld) -> Step {
    w.stage2_processed_none()
}

// ---- UIA ----

#[given(expr = "a decoy fallback snapshot titled {string} with a matching sidecar")]
fn decoy_fallback(w: &mut ContractWorld, title: String) -> Step {
    w.decoy_fallback(&title)
}

#[given("the first frame's snapshot row is deleted from the handoff")]
fn delete_snapshot_row(w: &mut ContractWorld) -> Step {
    w.delete_snapshot_row()
}

#[given(expr = "the first frame's snapshot row has the record_type {string}")]
fn snapshot_row_record_type(w: &mut ContractWorld, record_type: String) -> Step {
    w.snapshot_row_record_type(&record_type)
}

#[given("the deleted snapshot is the fallback with a matching sidecar")]
fn fallback_matching(w: &mut ContractWorld) -> Step {
    w.deleted_snapshot_as_fallback(true)
}

#[given("the deleted snapshot is the fallback with a sidecar that does not match")]
fn fallback_not_matching(w: &mut ContractWorld) -> Step {
    w.deleted_snapshot_as_fallback(false)
}

#[then("the first frame's focus doc has the window title of its metadata snapshot")]
fn focus_doc_has_metadata_title(w: &mut ContractWorld) -> Step {
    w.focus_doc_has_metadata_title()
}

#[then("the first frame has no focus doc")]
fn no_focus_doc(w: &mut ContractWorld) -> Step {
    w.no_focus_doc()
}

#[then(expr = "the ingest reports the UIA problem {string}")]
fn uia_problem(w: &mut ContractWorld, code: String) -> Step {
    w.uia_problem(&code)
}

#[then("every frame with a uia_ref has its three UIA docs")]
fn every_frame_has_docs(w: &mut ContractWorld) -> Step {
    w.every_frame_has_docs()
}

#[then(
    regex = r#"^every UIA doc id is "\{run\}/derived\.sst\.text/extra/" followed by rid\("uia-" \+ uia_record_id \+ "-" \+ section \+ "-0"\)$"#
)]
fn doc_ids_follow_recipe(w: &mut ContractWorld) -> Step {
    w.doc_ids_follow_recipe()
}

#[then("every UIA doc's uia_record_id and uia_content_hash equal its frame's uia_ref")]
fn docs_link_to_uia_ref(w: &mut ContractWorld) -> Step {
    w.docs_link_to_uia_ref()
}

#[then(expr = "every UIA doc validates against the {string} schema")]
fn docs_validate(w: &mut ContractWorld, schema: String) -> Step {
    w.docs_validate(&schema)
}

#[then("every bbox of every UIA doc is ordered and inside its frame")]
fn bboxes_inside_frames(w: &mut ContractWorld) -> Step {
    w.bboxes_inside_frames()
}

#[then(expr = "the focus doc id of {string} is {string}")]
fn focus_doc_id_vector(w: &mut ContractWorld, uia_id: String, expected: String) -> Step {
    w.focus_doc_id_vector(&uia_id, &expected)
}

// ---- query ----

#[when("I open a query handle")]
fn open_handle(w: &mut ContractWorld) -> Step {
    w.open_handle()
}

#[then(expr = "{string} through the handle fails")]
fn write_through_handle_fails(w: &mut ContractWorld, sql: String) -> Step {
    w.write_through_handle_fails(&sql)
}

#[when(expr = "I ask {string}")]
fn ask(w: &mut ContractWorld, question: String) -> Step {
    w.ask(&question)
}

#[when(expr = "I ask {string} with the CLI")]
fn ask_cli(w: &mut ContractWorld, question: String) -> Step {
    w.ask_cli(&question)
}

#[then("the query counters are all 0")]
fn counters_zero(w: &mut ContractWorld) -> Step {
    w.counters_zero()
}

#[then(expr = "the answer's state is {string}")]
fn answer_state(w: &mut ContractWorld, state: String) -> Step {
    w.answer_state(&state)
}

#[then("every citation names a record_id and a record_type")]
fn citations_name_records(w: &mut ContractWorld) -> Step {
    w.citations_name_records()
}

#[then("the answer says it needs processing")]
fn answer_needs_processing(w: &mut ContractWorld) -> Step {
    w.answer_needs_processing()
}

// ---- the popup server and binding ----

#[given("a popup server on a loopback port over an ingested and indexed DataRoot")]
fn popup_server(w: &mut ContractWorld) -> Step {
    w.popup_server()
}

#[when(expr = "I post the popup body {string} with the server's token")]
fn post_with_server_token(w: &mut ContractWorld, body: String) -> Step {
    w.post_popup_with_server_token(&body)
}

#[when(expr = "I post the popup body {string} without a token")]
fn post_without_token(w: &mut ContractWorld, body: String) -> Step {
    w.post_popup(&body, None)
}

#[when(expr = "I post the popup body {string} with the token {string}")]
fn post_with_token(w: &mut ContractWorld, body: String, token: String) -> Step {
    w.post_popup(&body, Some(&token))
}

#[when(expr = "I get {string}")]
fn get(w: &mut ContractWorld, path: String) -> Step {
    w.get(&path)
}

#[then(expr = "the response status is {int}")]
fn status_is(w: &mut ContractWorld, status: u16) -> Step {
    w.status_is(status)
}

#[then(regex = r"^the response has the fields (.+)$")]
fn response_has_fields(w: &mut ContractWorld, fields: String) -> Step {
    w.response_has_fields(&fields)
}

#[then(regex = r"^every citation has the fields (.+)$")]
fn citations_have_fields(w: &mut ContractWorld, fields: String) -> Step {
    w.citations_have_fields(&fields)
}

#[then(expr = "the response has more than {int} and at most {int} citations")]
fn citations_between(w: &mut ContractWorld, above: usize, at_most: usize) -> Step {
    w.citations_between(above, at_most)
}

#[then("the response's needs_processing is false")]
fn needs_processing_false(w: &mut ContractWorld) -> Step {
    w.needs_processing_false()
}

#[then("the response's token is the server's token")]
fn response_token_is_servers(w: &mut ContractWorld) -> Step {
    w.response_token_is_servers()
}

#[then(regex = r"^DELETE and PUT on (.+) get 405$")]
fn no_route_deletes(w: &mut ContractWorld, paths: String) -> Step {
    w.no_route_deletes(&paths)
}

#[then(expr = "the default bind is {string}")]
fn default_bind_is(w: &mut ContractWorld, bind: String) -> Step {
    w.default_bind_is(&bind)
}

#[then("the default bind is accepted as loopback")]
fn default_bind_loopback(w: &mut ContractWorld) -> Step {
    w.default_bind_loopback()
}

#[then("the server's address is on loopback")]
fn server_on_loopback(w: &mut ContractWorld) -> Step {
    w.server_on_loopback()
}

#[when(expr = "I serve the DataRoot on {string}")]
fn serve_on(w: &mut ContractWorld, bind: String) -> Step {
    w.serve(Some(&bind))
}

#[when("I serve the DataRoot with that configuration")]
fn serve_with_config(w: &mut ContractWorld) -> Step {
    w.serve(None)
}

#[given(expr = "a configuration file holding {string}")]
fn config_file(w: &mut ContractWorld, text: String) -> Step {
    w.config_file(&text)
}

// ---- the audit chain and the contract identity ----

#[then(expr = "the audit log has one {string} line with outcome {string} per handoff")]
fn one_line_per_handoff(w: &mut ContractWorld, action: String, outcome: String) -> Step {
    w.one_ingest_line_per_handoff(&action, &outcome)
}

#[then("every audit line's prev_hash is the previous line's hash")]
fn chain_links(w: &mut ContractWorld) -> Step {
    w.chain_links()
}

#[when("I verify the audit log")]
fn verify_audit(w: &mut ContractWorld) -> Step {
    w.verify_audit()
}

#[then(expr = "the last audit line has the action {string} and an outcome other than {string}")]
fn last_line_not(w: &mut ContractWorld, action: String, outcome: String) -> Step {
    w.last_audit_line(&action, &outcome, false)
}

#[then(expr = "the last audit line has the action {string} and the outcome {string}")]
fn last_line_is(w: &mut ContractWorld, action: String, outcome: String) -> Step {
    w.last_audit_line(&action, &outcome, true)
}

#[given(expr = "a DataRoot with an audit log of {int} lines")]
fn audit_log_of(w: &mut ContractWorld, n: usize) -> Step {
    w.audit_log_of(n)
}

#[given(expr = "the outcome of audit line {int} is changed to {string}")]
fn change_audit_outcome(w: &mut ContractWorld, line: usize, outcome: String) -> Step {
    w.change_audit_outcome(line, &outcome)
}

#[given(expr = "audit line {int} is deleted")]
fn delete_audit_line(w: &mut ContractWorld, line: usize) -> Step {
    w.delete_audit_line(line)
}

#[given(expr = "the last audit line loses its last {int} bytes")]
fn tear_audit_tail(w: &mut ContractWorld, bytes: usize) -> Step {
    w.tear_audit_tail(bytes)
}

#[then(expr = "the error names line {int}")]
fn error_names_line(w: &mut ContractWorld, line: u64) -> Step {
    w.error_names_line(line)
}

#[given(expr = "the sister document {string}")]
fn sister_document(w: &mut ContractWorld, path: String) -> Step {
    w.sister_document(&path)
}

#[when(expr = "I run {string}")]
fn run_words(w: &mut ContractWorld, command: String) -> Step {
    w.run_words(&command)
}

#[then("its contract_version and schema_hash equal the sister document's")]
fn identity_matches_sister(w: &mut ContractWorld) -> Step {
    w.identity_matches_sister()
}
