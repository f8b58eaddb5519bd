//! The read-only query engine (contract §7): a query string becomes an answer with citations,
//! computed from precomputed artifacts only.
//!
//! - [`handle`]: `QueryHandle`, the only way to reach the DataRoot from here: read-only by type.
//! - [`lexer`]: the query language's words, quoted phrases and operators; [`times`]: the times
//!   among the words, as people write them.
//! - [`language`]: the intent of a question, from what the lexer found: the first row of the
//!   [`rules`] table that holds, over the cues [`lexicon`] reads; [`apps`] holds the everyday
//!   names of kinds of app.
//! - [`answer`]: the answer shape shared by the CLI and the popup API.
//! - [`context`]: what every intent works with: the question's context, the draft answer, cited
//!   records, frame rows, window records and UIA nodes.
//! - [`engine`]: runs an intent against the handle; [`elements`] (list items, amounts, where an
//!   element is) and [`search`] (plain searches, first seen, elapsed) hold the intents over one
//!   window's elements and over on-screen text; [`chrome`], [`correlate`] and [`span`] hold
//!   the intents that read browser chrome, compare apps, and reason over a span of time;
//!   [`titles`] picks the window a question names.
//! - [`runs`]: focus runs clipped to a time range.

pub mod answer;
mod apps;
mod chrome;
mod context;
mod correlate;
mod elements;
pub mod engine;
mod entities;
pub mod handle;
pub mod language;
pub mod lexer;
pub mod lexicon;
mod rules;
pub mod runs;
mod search;
mod span;
mod spoken;
pub mod times;
mod titles;

pub use answer::{Answer, AnswerState, Citation};
pub use engine::{QueryOptions, answer};
pub use handle::{Counters, QueryHandle};
