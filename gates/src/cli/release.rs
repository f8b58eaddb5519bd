//! `autocapture-gates run` and `verify`: run the gates, write and sign the report, print the
//! table; check a signed report against the release policy.

use super::*;
use crate::harness::scratch::Scratch;

/// `run`, and `signoff` with the sister document's path and checkpoint.
pub(super) fn run(
    args: &RunArgs,
    sister: Option<(PathBuf, SisterCheckpoint)>,
) -> anyhow::Result<u8> {
    let target = Target::parse(&args.target).map_err(|m| CliError::usage("target_invalid", m))?;
    // Usage problems first, before any building or generating.
    crate::harness::runner::select(&registry(), &args.gates)
        .map_err(|e| CliError::usage("gate_unknown", error::chain_text(&e)))?;
    if args.repeat == 0 {
        return Err(CliError::usage("usage", "--repeat must be at least 1").into());
    }
    // Then the environment: the checkout the report reads, the binary, the key, the output.
    let contracts_dir = contract::default_contracts_dir().map_err(error::checkout_missing)?;
    let workspace_root = contract::workspace_root().map_err(error::checkout_missing)?;
    let (harness_bin, bin) = error::autocapture_beside_harness()?;
    let (key, dev_signed) = error::signing_key(args.signing_key.as_deref())?;
    let scratch = Scratch::choose(&args.out, args.scratch.as_deref()).map_err(|e| {
        let at = args.scratch.clone().unwrap_or_else(|| args.out.clone());
        CliError::new("scratch_unwritable", error::chain_text(&e), exit::ERROR).at(at)
    })?;
    if let Err(e) = error::writable_dir(&args.out) {
        if scratch.private {
            let _ = scratch.remove();
        }
        return Err(e.into());
    }
    let options = RunOptions {
        out: args.out.clone(),
        scratch: scratch.clone(),
        select: args.gates.clone(),
        target: target.clone(),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        }),
        repeat: args.repeat,
        seed: args.seed,
        frames: args.frames,
        handoffs: 3,
        autocapture_bin: Some(bin.clone()),
        harness_bin: Some(harness_bin.clone()),
        sla_input: args.sla_input.clone(),
        sla_trace: args.sla_trace.clone(),
        slow: args.slow,
        keep_work: args.keep_work,
        progress: true,
    };
    let results = run_gates(&registry(), &options, &SystemClock).map_err(|e| {
        e.context(format!(
            "the run stopped; its copies so far are in {}",
            scratch.dir.display()
        ))
    })?;
    let out = &args.out;
    // A failure to write the outputs keeps the copies, and says where.
    let written = (|| -> anyhow::Result<()> {
        let statement = statement(&ReportInputs {
            results: &results,
            target: &target,
            dev_signed,
            autocapture_bin: Some(&bin),
            contracts_dir: &contracts_dir,
            workspace_root: &workspace_root,
            sister: sister.as_ref().map(|(_, checkpoint)| checkpoint),
        })?;
        // The harness checks its own report against the predicate schema before signing it.
        let violations = predicate_violations(&statement["predicate"])?;
        anyhow::ensure!(
            violations.is_empty(),
            "the report does not validate against its schema: {violations:?}"
        );
        let body = serde_json::to_vec_pretty(&statement)?;
        write_signed(out, "report", &body, &key)?;
        let test_result = serde_json::to_vec_pretty(&test_result(&statement, &body, &results))?;
        write_signed(out, "test-result", &test_result, &key)?;
        let public = out.join("signing-key.pub.json");
        keys::write_public(&public, &key.verifying_key())?;
        keys::write_public_pem(&out.join("signing-key.pub.pem"), &key.verifying_key())?;
        let predicate = &statement["predicate"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let properties = [
            ("commit", text(&predicate["environment"]["git_commit"])),
            ("contract_version", text(&predicate["contract_version"])),
            ("schema_hash", text(&predicate["schema_hash"])),
            ("target", text(&predicate["target"])),
            ("dev_signed", predicate["dev_signed"].to_string()),
        ];
        std::fs::write(out.join("junit.xml"), junit::render(&results, &properties)?)?;
        let identity =
            summary::identity(&statement, &keys::keyid(&key.verifying_key()), dev_signed);
        std::fs::write(
            out.join("summary.md"),
            summary::markdown(&results, &identity),
        )?;
        std::fs::write(
            out.join("summary.html"),
            summary::html(&results, &identity)?,
        )?;
        Ok(())
    })();
    if let Err(error) = written {
        return Err(error.context(format!(
            "the outputs could not be written; the corpus and work copies are kept in {}",
            scratch.dir.display()
        )));
    }
    // Tidied before the table, so that a failure to tidy is the only document on stdout.
    let tidied = crate::harness::runner::tidy(&results, &scratch, args.keep_work)?;
    if args.json {
        print_json(&results, out, dev_signed);
    } else {
        print_table(&results, out, dev_signed);
    }
    let copies = [scratch.corpus(), scratch.work()];
    if tidied {
        eprintln!(
            "autocapture-gates: passed; the corpus and work copies were removed (--keep-work keeps them)"
        );
    } else {
        eprintln!(
            "autocapture-gates: the corpus and work copies are kept in {} and {}",
            copies[0].display(),
            copies[1].display()
        );
    }
    let mut code = exit_code(results.verdict());
    if let Some((sister_path, sister)) = &sister {
        if sister.matches {
            println!(
                "Hypervisor checkpoint: contract_version {} and schema_hash {} match",
                sister.contract_version, sister.schema_hash
            );
        } else {
            let message = format!("signoff refused: {}", sister_mismatch(sister)?);
            CliError::new("signoff_sister_mismatch", message, exit::FAIL)
                .at(sister_path)
                .eprint();
            code = code.max(exit::FAIL);
        }
        let ran: Vec<&str> = results
            .gates
            .iter()
            .filter(|g| g.verdict != Verdict::Skipped)
            .map(|g| g.name.as_str())
            .collect();
        let uncovered: Vec<&str> = PLAN
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !ran.contains(name))
            .collect();
        if !uncovered.is_empty() {
            let message = format!(
                "signoff refused: release gates that did not run: {}",
                uncovered.join(", ")
            );
            CliError::new("signoff_gates_missing", message, exit::FAIL).eprint();
            code = code.max(exit::FAIL);
        }
        if dev_signed {
            let message = format!(
                "signoff refused: no release key (--signing-key or ${}); a dev-signed report signs off nothing",
                keys::KEY_ENV
            );
            CliError::new("signoff_dev_signed", message, exit::FAIL).eprint();
            code = code.max(exit::FAIL);
        }
    }
    Ok(code)
}

/// Writes `NAME.json` (the Statement) and `NAME.dsse.json` (its DSSE envelope) into `out`.
pub(super) fn write_signed(
    out: &Path,
    name: &str,
    body: &[u8],
    key: &ed25519_dalek::SigningKey,
) -> anyhow::Result<()> {
    let path = out.join(format!("{name}.json"));
    std::fs::write(&path, [body, b"\n"].concat())
        .map_err(|e| CliError::out_unwritable(&path, &e))?;
    let path = out.join(format!("{name}.dsse.json"));
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&dsse::sign(body, key))? + "\n",
    )
    .map_err(|e| CliError::out_unwritable(&path, &e).into())
}

/// `run --json`: the run as one JSON document on stdout.
fn print_json(results: &RunResults, out: &Path, dev_signed: bool) {
    let verdict = results.verdict();
    let gates: Vec<serde_json::Value> = results
        .gates
        .iter()
        .map(|g| {
            serde_json::json!({
                "name": g.name, "verdict": g.verdict.as_str(),
                "checks_passed": g.checks.iter().filter(|c| c.passed).count(),
                "checks": g.checks.len(), "duration_ms": g.duration_ms,
                "measurements": g.measurements,
                "failing": g.evidence.iter().map(|e| format!("{}: {}", e.check, e.describe())).collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = serde_json::json!({
        "ok": matches!(verdict, RunVerdict::Pass | RunVerdict::Partial),
        "verdict": verdict.as_str(),
        "run_id": results.run_id,
        "counts": {"pass": results.count(Verdict::Pass), "fail": results.count(Verdict::Fail),
                   "error": results.count(Verdict::Error), "skipped": results.count(Verdict::Skipped)},
        "dev_signed": dev_signed,
        "outputs": out.to_string_lossy(),
        "gates": gates,
    });
    println!("{document}");
}

pub(super) fn print_table(results: &RunResults, out: &Path, dev_signed: bool) {
    println!(
        "{:<15} {:<8} {:>7} {:>8}  figures",
        "gate", "verdict", "checks", "ms"
    );
    for g in &results.gates {
        let passed = g.checks.iter().filter(|c| c.passed).count();
        let figures: Vec<String> = g
            .measurements
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{:<15} {:<8} {:>3}/{:<3} {:>8}  {}",
            g.name,
            g.verdict.as_str(),
            passed,
            g.checks.len(),
            g.duration_ms,
            figures.join(" ")
        );
        if matches!(g.verdict, Verdict::Fail | Verdict::Error) {
            for e in &g.evidence {
                println!("    {}: {}", e.check, e.describe());
            }
        }
    }
    println!(
        "\nverdict {}; {} gates: {} pass, {} fail, {} error, {} skipped; outputs in {}{}",
        results.verdict().as_str(),
        results.gates.len(),
        results.count(Verdict::Pass),
        results.count(Verdict::Fail),
        results.count(Verdict::Error),
        results.count(Verdict::Skipped),
        out.display(),
        if dev_signed {
            " (dev-signed with a throwaway key)"
        } else {
            ""
        }
    );
    if results.verdict() == RunVerdict::Partial {
        println!(
            "partial: only the selected gates ran; the report is not a release pass (verify refuses it without --allow-partial)"
        );
    }
}

/// `verify`: the decision of [`acceptance::check`], printed for people or as JSON; a refusal
/// is an error like any other (`error[code]`, the envelope or key file at fault), with its own
/// exit code 2–9 (and `exit_code` in the JSON).
pub(super) fn verify(
    envelope: &Path,
    public_keys: &[PathBuf],
    policy: Result<Policy, Refusal>,
    json: bool,
) -> u8 {
    let refused = |refusal: Refusal, path: Option<&Path>| {
        let mut error = CliError::new(refusal.code(), refusal.to_string(), refusal.exit_code());
        error.path = path.map(Path::to_path_buf);
        error.extra.push(("exit_code", refusal.exit_code().into()));
        error
    };
    let decision = policy
        .map_err(|refusal| refused(refusal, None))
        .and_then(|policy| {
            let keys = public_keys
                .iter()
                .map(|path| {
                    keys::load_public(path)
                        .map_err(|e| refused(Refusal::Usage(error::chain_text(&e)), Some(path)))
                })
                .collect::<Result<Vec<_>, CliError>>()?;
            let bytes = std::fs::read(envelope).map_err(|e| {
                let message = format!("read the envelope {}: {e}", envelope.display());
                refused(Refusal::Usage(message), Some(envelope))
            })?;
            let plan: Vec<&str> = PLAN.iter().map(|(name, _)| *name).collect();
            acceptance::check(&bytes, &keys, &policy, &plan).map_err(|refusal| {
                // A usage refusal here is about the flags (no key), not the envelope.
                let at_fault = (!matches!(refusal, Refusal::Usage(_))).then_some(envelope);
                refused(refusal, at_fault)
            })
        });
    match decision {
        Ok(accepted) if json => {
            println!("{}", accepted.to_json());
            acceptance::exit::VERIFIED
        }
        Ok(accepted) => {
            println!("{}", accepted.describe());
            acceptance::exit::VERIFIED
        }
        Err(error) => error::report(&error, json),
    }
}
