Feature: Loopback binding
  The popup server binds 127.0.0.1:8787 by default; any bind that is not on loopback is refused
  before anything listens (fail-closed).

  @repo
  Scenario: The default bind is on loopback
    Then the default bind is "127.0.0.1:8787"
    And the default bind is accepted as loopback

  @repo
  Scenario: The server listens on a loopback socket
    Given a popup server on a loopback port over an ingested and indexed DataRoot
    Then the server's address is on loopback

  @repo
  Scenario: serve refuses to bind every interface
    Given an ingested handoff
    When I serve the DataRoot on "0.0.0.0:8787"
    Then the command fails with exit code 1 and error code "bind_refused"

  @repo
  Scenario: serve refuses the IPv6 any address
    Given an ingested handoff
    When I serve the DataRoot on "[::]:8787"
    Then the command fails with exit code 1 and error code "bind_refused"

  @repo
  Scenario: serve refuses a LAN address
    Given an ingested handoff
    When I serve the DataRoot on "192.168.1.20:8787"
    Then the command fails with exit code 1 and error code "bind_refused"

  @repo
  Scenario: A configuration with a non-loopback bind fails closed
    Given an ingested handoff
    And a configuration file holding "{\"server\": {\"bind\": \"0.0.0.0:8787\"}}"
    When I serve the DataRoot with that configuration
    Then the command fails with exit code 2 and an error code starting with "config_"

  @hypervisor
  Scenario: The Hypervisor reaches the popup server on loopback only
    Given the popup server runs on 127.0.0.1:8787
    When the Hypervisor's popup connects
    Then it connects to 127.0.0.1 and to no other address
