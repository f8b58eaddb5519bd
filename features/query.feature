Feature: Query is read-only
  The query engine reads precomputed artifacts only: its handle is opened read-only with
  query_only, it never decodes media, schedules or runs extraction, and never writes. The
  counters query_extractor_launch_total, query_schedule_extract_requests_total and
  query_raw_media_reads_total stay 0.

  @repo
  Scenario: Writes through the query handle fail
    Given an ingested and indexed DataRoot
    When I open a query handle
    Then "INSERT INTO metadata (id) VALUES ('x')" through the handle fails
    And "DELETE FROM metadata" through the handle fails
    And "DROP TABLE metadata" through the handle fails
    And "CREATE TABLE extra (x)" through the handle fails

  @repo
  Scenario: Asking questions changes no byte of the DataRoot and leaves the counters at 0
    Given an ingested and indexed DataRoot
    When I ask "which window had focus at 10:00"
    And I ask "when did I last see the inbox"
    Then the query counters are all 0
    And the DataRoot is unchanged

  @repo
  Scenario: An ok answer cites its records
    Given an ingested and indexed DataRoot
    When I ask "which window had focus at 10:00" with the CLI
    Then the command succeeds
    And the answer's state is "ok"
    And every citation names a record_id and a record_type

  @repo
  Scenario: A DataRoot without an index answers not_available_yet and says how to produce it
    Given an ingested handoff
    When I ask "which window had focus at 10:00" with the CLI
    Then the command succeeds
    And the answer's state is "not_available_yet"
    And the answer says it needs processing

  @repo
  Scenario: Query on a data dir that does not exist fails with a code
    Given a data dir that does not exist
    When I ask "which window had focus at 10:00" with the CLI
    Then the command fails with exit code 2 and error code "data_dir_missing"
