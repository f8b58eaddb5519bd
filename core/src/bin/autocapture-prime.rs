//! `autocapture-prime`: the deprecated name of `autocapture`; same commands, same code path,
//! same output and exit codes, plus one deprecation line on stderr.

#[path = "shared/mod.rs"]
mod shared;

fn main() -> std::process::ExitCode {
    eprintln!("autocapture-prime: deprecated, use `autocapture` (same commands and output)");
    shared::run("autocapture")
}
