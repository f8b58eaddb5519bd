Feature: The audit chain
  audit.ndjson is an append-only log of privileged actions. Each line is
  {schema_version, seq, ts_utc, action, actor, outcome, details, prev_hash, hash} with
  hash = sha256 of the canonical line without hash, and prev_hash the previous line's hash.
  "autocapture audit verify" reports the first broken line.

  @repo
  Scenario: Each ingest leaves a line and the chain verifies
    Given a spool of generated handoffs
    When I ingest every handoff of the spool
    Then the audit log has one "handoff.ingest" line with outcome "ok" per handoff
    And every audit line's prev_hash is the previous line's hash
    When I verify the audit log
    Then the command succeeds

  @repo
  Scenario: A failed ingest is audited too
    Given a generated handoff in the "canonical" layout
    And the handoff has been ingested
    And a second generated handoff whose metadata.db is removed
    When I ingest the second handoff
    Then the command fails with exit code 1 and error code "handoff_metadata_missing"
    And the last audit line has the action "handoff.ingest" and an outcome other than "ok"

  @repo
  Scenario: An edited line is caught at its line
    Given a DataRoot with an audit log of 3 lines
    And the outcome of audit line 2 is changed to "forged"
    When I verify the audit log
    Then the command fails with exit code 1 and error code "audit_hash_mismatch"
    And the error names line 2

  @repo
  Scenario: A deleted line is caught at the line after it
    Given a DataRoot with an audit log of 3 lines
    And audit line 2 is deleted
    When I verify the audit log
    Then the command fails with exit code 1 and an error code starting with "audit_"
    And the error names line 2

  @repo
  Scenario: A torn last line is caught
    Given a DataRoot with an audit log of 3 lines
    And the last audit line loses its last 10 bytes
    When I verify the audit log
    Then the command fails with exit code 1 and error code "audit_line_truncated"
    And the error names line 3

  @repo
  Scenario: Starting the server is audited
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    Then the last audit line has the action "server.start" and the outcome "ok"

  @both
  Scenario: Both sides carry the same contract identity
    Given the sister document "contracts/sister/hypervisor.lock.json"
    When I run "autocapture contract show --json"
    Then the command succeeds
    And its contract_version and schema_hash equal the sister document's
