//! Every registered gate as a named trial, so `cargo test` and `cargo nextest` run the gates on a
//! generated corpus. The target fails when the registry is empty.

use std::path::PathBuf;
use std::sync::Arc;

use autocapture_gates::corpus::generate::{GenerateOptions, generate};
use autocapture_gates::corpus::story::Story;
use autocapture_gates::gates::registry;
use autocapture_gates::harness::gate::{GateContext, Verdict};
use libtest_mimic::{Arguments, Failed, Trial};

/// The harness binary, for gates that measure a child process.
const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn main() {
    let args = Arguments::from_args();
    // Gates that run the real program get the `autocapture` built beside the harness.
    let autocapture_bin =
        match autocapture_gates::harness::bins::autocapture_beside(std::path::Path::new(HARNESS)) {
            Ok(bin) => Some(bin),
            Err(e) => {
                eprintln!("the autocapture binary: {e:#}");
                std::process::exit(101);
            }
        };
    // On the target's disk, not the system temp dir: some gates write hundreds of MiB.
    let dir = match tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")) {
        Ok(dir) => Arc::new(dir),
        Err(e) => {
            eprintln!("temp dir: {e}");
            std::process::exit(101);
        }
    };
    let corpus = dir.path().join("corpus");
    let generated = Story::default_story()
        .map_err(anyhow::Error::from)
        .and_then(|story| {
            generate(
                &story,
                &GenerateOptions {
                    out: corpus.clone(),
                    seed: 7,
                    frames: 600,
                    handoffs: 3,
                },
            )
        });
    if let Err(e) = generated {
        eprintln!("generate the corpus: {e:#}");
        std::process::exit(101);
    }
    let gates = registry();
    if gates.is_empty() {
        eprintln!("the gate registry is empty");
        std::process::exit(101);
    }
    let trials: Vec<Trial> = gates
        .into_iter()
        .map(|gate| {
            let (dir, corpus, autocapture_bin) =
                (dir.clone(), corpus.clone(), autocapture_bin.clone());
            Trial::test(
                format!("gate::{}", gate.name()),
                move || -> Result<(), Failed> {
                    let work = dir.path().join("work").join(gate.name());
                    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
                    let ctx = GateContext {
                        jobs: 2,
                        autocapture_bin: autocapture_bin.clone(),
                        harness_bin: Some(PathBuf::from(HARNESS)),
                        ..GateContext::new(corpus, work.clone())
                    };
                    let outcome = gate.run(&ctx).map_err(|e| format!("{e:#}"))?;
                    match outcome.verdict() {
                        // A passing gate's work is not looked at again; free its disk.
                        Verdict::Pass => std::fs::remove_dir_all(&work)
                            .map_err(|e| format!("remove {}: {e}", work.display()).into()),
                        verdict => {
                            Err(format!("{}: {:#?}", verdict.as_str(), outcome.evidence).into())
                        }
                    }
                },
            )
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
