//! The strict golden (CONTRACT §9): forty cases on each story.
//!
//! - [`cases`]: the case templates of `fixtures/golden/q40.toml` and the checks of a case.
//! - [`rules`]: how each template's `truth` rule computes its checks from `truth.json`, and
//!   `instantiate`, every template on a corpus's truth; [`text`]: the amounts and clock stamps
//!   the rules read from screen texts.
//! - [`evaluate`]: the pure strict evaluator.
//! - [`report`]: the report rows and table; [`junit`]: the same as JUnit, one test case per
//!   question asked.
//! - [`target`]: asking the embedded core or a popup endpoint on loopback.
//! - [`run`]: one golden run: instantiate, ask each case three times, evaluate.
//! - [`stories`]: the stories the gate certifies, each with its case file.

pub mod cases;
pub mod evaluate;
pub mod junit;
pub mod report;
pub mod rules;
pub mod run;
pub mod stories;
pub mod target;
pub mod text;
