//! How the harness talks to a running popup server: [`http`], the one HTTP client every gate,
//! scenario and test uses for well-formed requests; [`raw`], the bytes-on-a-socket helper for
//! requests an attacker shapes (malformed, forged or oversized), which a real client would refuse
//! to send.

pub mod http;
pub mod raw;
