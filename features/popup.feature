Feature: The popup API
  POST /api/query/popup with "Authorization: Bearer <token>" and a body
  {query, max_citations, schedule_extract?} answers from the read-only query engine. The token
  comes from GET /api/auth/token. No route deletes anything.

  @hypervisor
  Scenario: The Hypervisor's popup sends the bearer token
    Given the Hypervisor's popup has fetched the token from /api/auth/token
    When the user asks a question in the popup
    Then the popup posts it to /api/query/popup with "Authorization: Bearer <token>"

  @repo
  Scenario: A question with the right token gets the documented answer
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    When I post the popup body "{\"query\": \"which window had focus at 10:00\"}" with the server's token
    Then the response status is 200
    And the response has the fields ok, query, query_run_id, state, summary, bullets, topic, confidence_pct, needs_processing, processing_blocked_reason, latency_ms_total and citations
    And every citation has the fields claim_index, citation_index, claim_text, record_id, record_type, source, span_kind, offset_start, offset_end, stale and stale_reason

  @repo
  Scenario: max_citations is clamped to 32
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    When I post the popup body "{\"query\": \"Show my focus timeline from 07:00 to 19:00\", \"max_citations\": 500}" with the server's token
    Then the response status is 200
    And the response has more than 8 and at most 32 citations

  @repo
  Scenario: schedule_extract is ignored and nothing is scheduled
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    When I post the popup body "{\"query\": \"which window had focus at 10:00\", \"schedule_extract\": true}" with the server's token
    Then the response status is 200
    And the response's needs_processing is false
    And the DataRoot is unchanged

  @repo
  Scenario: A request without a token is refused
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    When I post the popup body "{\"query\": \"which window had focus at 10:00\"}" without a token
    Then the response status is 401

  @repo
  Scenario: A request with a wrong token is refused
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    When I post the popup body "{\"query\": \"which window had focus at 10:00\"}" with the token "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    Then the response status is 401

  @repo
  Scenario: The token route, the status route and health answer
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    When I get "/api/auth/token"
    Then the response status is 200
    And the response has the fields token and created_ts
    And the response's token is the server's token
    When I get "/health"
    Then the response status is 200
    When I get "/api/auth/status"
    Then the response status is 200

  @repo
  Scenario: No route deletes or replaces anything
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    Then DELETE and PUT on "/api/query/popup", "/api/auth/token", "/api/auth/status" and "/health" get 405
