//! `autocapture-prime`: the deprecated name of `autocapture`; same commands, same code path,
//! same output and exit codes, plus one deprecation line on stderr; usage and help name
//! `autocapture-prime`.

fn main() -> std::process::ExitCode {
    eprintln!("autocapture-prime: deprecated, use `autocapture` (same commands and output)");
    autocapture_core::cli::run("autocapture-prime")
}
