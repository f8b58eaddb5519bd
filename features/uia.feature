Feature: UIA linkage and the fallback hash gate
  Each Stage-1-complete frame gets three UIA docs (obs.uia.focus, obs.uia.context,
  obs.uia.operable) from the snapshot its uia_ref names, looked up in the metadata first. The
  fallback uia/latest.snap.json is used only when the lookup fails, and only when its sidecar
  uia/latest.snap.sha256 matches the file's bytes; otherwise the frame gets no docs and the ingest
  goes on (fail-open).

  @hypervisor
  Scenario: The Hypervisor links each frame to its UIA snapshot
    Given the Hypervisor captures a frame and walks the focused window's UIA tree
    When it writes the frame's row
    Then the frame's uia_ref names the snapshot's record_id and content_hash

  @hypervisor
  Scenario: The Hypervisor writes the fallback snapshot with its sidecar
    Given the Hypervisor has walked a UIA snapshot
    When it writes uia/latest.snap.json
    Then it writes uia/latest.snap.sha256 holding the sha256 of the file's bytes

  @repo
  Scenario: Every frame's UIA docs carry deterministic ids and link to its uia_ref
    Given a generated handoff in the "canonical" layout
    When I ingest the handoff
    Then every frame with a uia_ref has its three UIA docs
    And every UIA doc id is "{run}/derived.sst.text/extra/" followed by rid("uia-" + uia_record_id + "-" + section + "-0")
    And every UIA doc's uia_record_id and uia_content_hash equal its frame's uia_ref
    And every UIA doc validates against the "uia-doc" schema
    And every bbox of every UIA doc is ordered and inside its frame

  @repo
  Scenario: The doc id recipe holds a fixed vector
    Then the focus doc id of "run1/evidence.uia.snapshot/0" is "run1/derived.sst.text/extra/rid_dWlhLXJ1bjEvZXZpZGVuY2UudWlhLnNuYXBzaG90LzAtZm9jdXMtMA"

  @repo
  Scenario: The metadata row wins over a valid fallback snapshot
    Given a generated handoff in the "canonical" layout
    And a decoy fallback snapshot titled "decoy from the fallback" with a matching sidecar
    When I ingest the handoff
    Then the command succeeds
    And the first frame's focus doc has the window title of its metadata snapshot

  @repo
  Scenario: A missing snapshot row is served by a fallback that passes its hash gate
    Given a generated handoff in the "canonical" layout
    And the first frame's snapshot row is deleted from the handoff
    And the deleted snapshot is the fallback with a matching sidecar
    When I ingest the handoff
    Then the command succeeds
    And the first frame's focus doc has the window title of its metadata snapshot

  @repo
  Scenario: A fallback whose sidecar does not match its bytes is refused
    Given a generated handoff in the "canonical" layout
    And the first frame's snapshot row is deleted from the handoff
    And the deleted snapshot is the fallback with a sidecar that does not match
    When I ingest the handoff
    Then the command succeeds
    And the first frame has no focus doc
    And the ingest reports the UIA problem "fallback_hash_mismatch"

  @repo
  Scenario: A missing fallback leaves the frame without docs and the ingest goes on
    Given a generated handoff in the "canonical" layout
    And the first frame's snapshot row is deleted from the handoff
    When I ingest the handoff
    Then the command succeeds
    And the first frame has no focus doc
    And the ingest reports the UIA problem "fallback_snapshot_missing"
    And the handoff has a valid v1 reap marker

  @repo
  Scenario: A malformed snapshot row is invalid and never uses the fallback
    Given a generated handoff in the "canonical" layout
    And the first frame's snapshot row has the record_type "evidence.window.meta"
    And a decoy fallback snapshot titled "decoy from the fallback" with a matching sidecar
    When I ingest the handoff
    Then the command succeeds
    And the first frame has no focus doc
