//! `autocapture-gates`: run the gates and sign the result; contract and fixture tooling. The
//! command line is [`autocapture_gates::cli`].

fn main() -> std::process::ExitCode {
    autocapture_gates::cli::main()
}
