//! `autocapture`: the canonical operator binary.

fn main() -> std::process::ExitCode {
    autocapture_core::cli::run("autocapture")
}
