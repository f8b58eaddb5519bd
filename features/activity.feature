Feature: The activity signal and foreground gating
  activity/activity_signal.json carries ts_utc, idle_seconds and user_active. A missing, stale,
  unreadable or invalid signal means the user is active (fail-closed): no Stage-2 work runs
  while the user is active, and the drain pauses in the auto budget.

  @hypervisor
  Scenario: The Hypervisor refreshes the activity signal
    Given the user is at the keyboard
    When the Hypervisor writes activity/activity_signal.json
    Then it carries ts_utc, idle_seconds and user_active
    And it is rewritten at least every 5 seconds

  @repo
  Scenario: A fresh idle signal lets Stage 2 run
    Given an ingested handoff
    And an activity signal 0 seconds old saying the user is idle
    When I run Stage 2
    Then the command succeeds
    And Stage 2 reports the state "completed" for the reason "idle"
    And Stage 2 processed at least one frame

  @repo
  Scenario: A fresh signal saying the user is active pauses Stage 2
    Given an ingested handoff
    And an activity signal 0 seconds old saying the user is active
    When I run Stage 2
    Then the command succeeds
    And Stage 2 reports the state "paused_active" for the reason "user_active"
    And Stage 2 processed no frame

  @repo
  Scenario: A missing signal counts as active
    Given an ingested handoff
    And no activity signal
    When I run Stage 2
    Then Stage 2 reports the state "paused_active" for the reason "signal_missing"
    And Stage 2 processed no frame

  @repo
  Scenario: A stale signal counts as active
    Given an ingested handoff
    And an activity signal 600 seconds old saying the user is idle
    When I run Stage 2
    Then Stage 2 reports the state "paused_active" for the reason "signal_stale"
    And Stage 2 processed no frame

  @repo
  Scenario: A signal that is not JSON counts as active
    Given an ingested handoff
    And an activity signal file holding "{not json"
    When I run Stage 2
    Then Stage 2 reports the state "paused_active" for the reason "signal_invalid"
    And Stage 2 processed no frame

  @repo
  Scenario: A signal without user_active counts as active
    Given an ingested handoff
    And an activity signal file holding "{\"ts_utc\": \"NOW\", \"idle_seconds\": 600}"
    When I run Stage 2
    Then Stage 2 reports the state "paused_active" for the reason "signal_invalid"
    And Stage 2 processed no frame

  @repo
  Scenario: The drain pauses in the auto budget while the user is active
    Given a spool of generated handoffs
    And an activity signal 0 seconds old saying the user is active
    When I drain the spool with "--budget auto"
    Then the drain reports the state "paused_active"
    And no handoff of the spool has a reap marker
