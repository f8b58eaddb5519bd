Feature: Handoff ingest (Stage 1)
  A handoff directory written by the Hypervisor is copied into the DataRoot once: every row of
  metadata.db, every file under media/, with the reap marker written only after a durable commit.
  Bad handoffs fail with a stable error code, leave no marker and leave the DataRoot as it was.

  @hypervisor
  Scenario: The Hypervisor closes a handoff before offering it to the spool
    Given the Hypervisor has finished writing a handoff
    When it moves the handoff into the spool
    Then the handoff holds metadata.db and every media file its rows reference
    And no process of the Hypervisor still writes to it

  @hypervisor
  Scenario: The Hypervisor names record ids run, kind and sequence
    Given the Hypervisor captures a frame in run "run1"
    When it writes the frame's row
    Then the row's id is "run1/evidence.capture.frame/0"

  @hypervisor
  Scenario: The Hypervisor writes record ids as text and never reuses one
    Given the Hypervisor writes a handoff's metadata table
    When it writes a row
    Then the row's id is stored as TEXT
    And no other row of the handoff or of an earlier handoff has that id with other values

  @both
  Scenario: Record ids of a handoff have the form run/kind/seq
    Given a generated handoff in the "canonical" layout
    Then every record id of the handoff has the form "{run_id}/{kind}/{seq}"

  @repo
  Scenario: A fresh handoff is copied whole into the DataRoot
    Given a generated handoff in the "canonical" layout
    When I ingest the handoff
    Then the command succeeds
    And the DataRoot holds every row of the handoff with unchanged payload bytes
    And the DataRoot holds every media file of the handoff with unchanged bytes

  @repo
  Scenario: The legacy records table is read, payloads from the json column
    Given a generated handoff in the "legacy" layout
    When I ingest the handoff
    Then the command succeeds
    And the ingest reports the "legacy" layout
    And the DataRoot holds every row of the handoff with unchanged payload bytes

  @repo
  Scenario: The alternate column names record_id and payload_json are accepted
    Given a generated handoff in the "canonical_alt_columns" layout
    When I ingest the handoff
    Then the command succeeds
    And the DataRoot holds every row of the handoff with unchanged payload bytes

  @repo
  Scenario: Re-ingesting an ingested handoff copies nothing
    Given a generated handoff in the "canonical" layout
    And the handoff has been ingested
    When I ingest the handoff
    Then the command succeeds
    And the ingest copied 0 metadata rows
    And the DataRoot is unchanged

  @repo
  Scenario: A handoff without metadata.db is refused
    Given a generated handoff in the "canonical" layout
    And the handoff's metadata.db is removed
    And the DataRoot already holds another handoff
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "handoff_metadata_missing"
    And the handoff has no reap marker
    And the DataRoot is unchanged

  @repo
  Scenario: A metadata.db that is not a database is refused
    Given a generated handoff in the "canonical" layout
    And the handoff's metadata.db is replaced by plain text
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "handoff_metadata_corrupt"
    And the handoff has no reap marker

  @repo
  Scenario: A metadata.db with neither table is refused
    Given a generated handoff in the "canonical" layout
    And the handoff's metadata.db holds neither a metadata nor a records table
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "handoff_metadata_table_missing"
    And the handoff has no reap marker

  @repo
  Scenario: A media ref that climbs out of media/ is refused
    Given a generated handoff in the "canonical" layout
    And the first frame's blob_path is "media/../../../etc/passwd"
    And the DataRoot already holds another handoff
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "media_ref_unsafe"
    And the handoff has no reap marker
    And the DataRoot is unchanged

  @repo
  Scenario: A media ref with a drive letter is refused
    Given a generated handoff in the "canonical" layout
    And the first frame's blob_path is "media/C:/Windows/win.ini"
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "media_ref_unsafe"
    And the handoff has no reap marker

  @repo
  Scenario: A symlink under media/ is refused
    Given a generated handoff in the "canonical" layout
    And a symlink to "/etc/passwd" is planted under the handoff's media
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "media_not_regular"
    And the handoff has no reap marker

  @repo
  Scenario: A referenced media file that is missing fails a strict ingest
    Given a generated handoff in the "canonical" layout
    And the first frame's blob is removed
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "media_ref_missing"
    And the handoff has no reap marker

  @repo
  Scenario: A blob whose bytes do not match the frame's content_hash fails the ingest
    Given a generated handoff in the "canonical" layout
    And a byte of the first frame's blob is flipped
    And the DataRoot already holds another handoff
    When I ingest the handoff
    Then the command fails with exit code 1 and error code "media_hash_mismatch"
    And the handoff has no reap marker
    And the DataRoot is unchanged

  @repo
  Scenario: A held instance lock refuses a second ingest
    Given a generated handoff in the "canonical" layout
    And another process holds the DataRoot's instance lock
    When I ingest the handoff
    Then the command fails with exit code 2 and error code "instance_lock_held"
    And the handoff has no reap marker
