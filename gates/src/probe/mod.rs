//! How the harness looks at the system from outside: [`http`], the one HTTP client every gate,
//! scenario and test uses for well-formed requests to a popup server; [`raw`], bytes on a socket
//! for requests an attacker shapes (malformed, forged or oversized), which a real client would
//! refuse to send; [`module_graph`], which module of a crate's source uses which; [`measure`],
//! the resource use of a child process; [`server`], a real popup server in this process.

pub mod http;
pub mod measure;
pub mod module_graph;
pub mod raw;
pub mod server;
