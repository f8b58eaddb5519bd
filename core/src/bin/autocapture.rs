//! `autocapture`: the canonical operator binary.

#[path = "shared/mod.rs"]
mod shared;

fn main() -> std::process::ExitCode {
    shared::run("autocapture")
}
