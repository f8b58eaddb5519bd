Feature: The reap marker, reap_eligible.json
  After a successful ingest the handoff gets reap_eligible.json (schema
  autocapture.handoff.reap_eligible.v1): the promise that every row and media file of the
  handoff is durably in the DataRoot. The Hypervisor reaps a handoff only on a valid v1 marker.

  @repo
  Scenario: A successful ingest writes a v1 marker that validates against its schema
    Given a generated handoff in the "canonical" layout
    When I ingest the handoff
    Then the command succeeds
    And the handoff has a valid v1 reap marker
    And the marker validates against the "reap-eligible" schema
    And the marker names the handoff and the DataRoot by absolute paths
    And the marker carries the contract_version and schema_hash that "autocapture contract show" prints
    And no temporary file is left in the handoff or the DataRoot

  @repo
  Scenario: The marker's counts and digests describe what the handoff contributed
    Given a generated handoff in the "canonical" layout
    When I ingest the handoff
    Then the marker's counts.metadata_rows_copied equals the handoff's row count
    And the marker's integrity.rows_sha256 and integrity.media_sha256 are 64 lowercase hex digits
    And the marker's ingest_run_id has the form "ingest_YYYYMMDDTHHMMSSffffffZ"

  @repo
  Scenario: Re-ingesting keeps the marker's digests
    Given a generated handoff in the "canonical" layout
    And the handoff has been ingested
    When I ingest the handoff
    Then the marker's integrity digests equal those of the first ingest

  @repo
  Scenario: The drain skips a handoff whose marker is valid v1
    Given a spool of generated handoffs
    And an activity signal 0 seconds old saying the user is idle
    And the spool has been drained
    When I drain the spool
    Then the command succeeds
    And every handoff of the spool is reported as "skipped_marked"

  @repo
  Scenario: The drain re-ingests marked handoffs when told to
    Given a spool of generated handoffs
    And an activity signal 0 seconds old saying the user is idle
    And the spool has been drained
    When I drain the spool with "--include-marked"
    Then the command succeeds
    And every handoff of the spool is reported as "ingested"

  @repo
  Scenario: A marker that is not v1 is not trusted
    Given a spool of generated handoffs
    And an activity signal 0 seconds old saying the user is idle
    And the spool has been drained
    And the first handoff's marker is replaced by "{\"schema\": \"autocapture.handoff.reap_eligible.v0\"}"
    When I drain the spool
    Then the command succeeds
    And the first handoff of the spool is reported as "ingested"
    And the first handoff has a valid v1 reap marker

  @hypervisor
  Scenario: The reaper deletes a handoff with a valid v1 marker
    Given a handoff in the spool with a reap_eligible.json whose schema is "autocapture.handoff.reap_eligible.v1"
    When the reaper runs
    Then the handoff is deleted

  @hypervisor
  Scenario: The reaper keeps a handoff whose marker is missing or not v1
    Given a handoff in the spool without a parseable v1 reap_eligible.json
    When the reaper runs
    Then the handoff is kept

  @hypervisor
  Scenario: The reaper keeps each marker's audit head as a witness
    Given a handoff in the spool with a valid v1 reap_eligible.json carrying audit_head seq and hash
    When the reaper deletes the handoff
    Then it keeps the marker's dest_data_root, ingest_run_id and audit_head
    And the latest audit_head it kept for a DataRoot can be checked with "autocapture audit verify --witness"
