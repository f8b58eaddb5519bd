//! `autocapture-crashpoints`: `autocapture` with its crash points and planted bugs armed
//! ([`autocapture_core::base::crash::arm`]), for the `crash` and `hostile` gates. Same commands
//! and output; never shipped.

fn main() -> std::process::ExitCode {
    autocapture_core::base::crash::arm();
    autocapture_core::cli::run("autocapture")
}
