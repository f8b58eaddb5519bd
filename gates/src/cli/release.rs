//! `autocapture-gates run` and `verify`: run the gates, write and sign the report, print the
//! table; check a signed report against the release policy.

use super::*;

pub(super) fn run(args: &RunArgs, sister: Option<SisterCheckpoint>) -> anyhow::Result<u8> {
    let target = Target::parse(&args.target).map_err(anyhow::Error::msg)?;
    // Usage problems first, before any building or generating.
    crate::harness::runner::select(&registry(), &args.gates)?;
    let harness_bin = std::env::current_exe()?;
    let bin = crate::harness::bins::autocapture_beside(&harness_bin)?;
    let (key, dev_signed) = keys::resolve(args.signing_key.as_deref())?;
    let options = RunOptions {
        out: args.out.clone(),
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
        progress: true,
    };
    let results = run_gates(&registry(), &options, &SystemClock)?;
    let contracts_dir = contract::default_contracts_dir()?;
    let statement = statement(&ReportInputs {
        results: &results,
        target: &target,
        dev_signed,
        autocapture_bin: Some(&bin),
        contracts_dir: &contracts_dir,
        workspace_root: &contract::workspace_root()?,
        sister: sister.as_ref(),
    })?;
    // The harness checks its own report against the predicate schema before signing it.
    let violations = predicate_violations(&statement["predicate"])?;
    anyhow::ensure!(
        violations.is_empty(),
        "the report does not validate against its schema: {violations:?}"
    );
    let out = &args.out;
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
    std::fs::write(
        out.join("summary.md"),
        summary::markdown(&results, dev_signed),
    )?;
    std::fs::write(
        out.join("summary.html"),
        summary::html(&results, dev_signed),
    )?;
    if args.json {
        print_json(&results, out, dev_signed);
    } else {
        print_table(&results, out, dev_signed);
    }
    let copies = [out.join("corpus"), out.join("work")];
    if crate::harness::runner::tidy(&results, out, args.keep_work)? {
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
    if let Some(sister) = &sister {
        if sister.matches {
            println!(
                "Hypervisor checkpoint: contract_version {} and schema_hash {} match",
                sister.contract_version, sister.schema_hash
            );
        } else {
            eprintln!("signoff refused: {}", sister_mismatch(sister)?);
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
            eprintln!(
                "signoff refused: release gates that did not run: {}",
                uncovered.join(", ")
            );
            code = code.max(exit::FAIL);
        }
        if dev_signed {
            eprintln!(
                "signoff refused: no release key (--signing-key or ${}); a dev-signed report signs off nothing",
                keys::KEY_ENV
            );
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
        .with_context(|| format!("write {}", path.display()))?;
    let path = out.join(format!("{name}.dsse.json"));
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&dsse::sign(body, key))? + "\n",
    )
    .with_context(|| format!("write {}", path.display()))
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

/// `verify`: the decision of [`acceptance::check`], printed for people or as JSON.
pub(super) fn verify(
    envelope: &Path,
    public_keys: &[PathBuf],
    policy: Result<Policy, Refusal>,
    json: bool,
) -> u8 {
    let decision = policy.and_then(|policy| {
        let keys = public_keys
            .iter()
            .map(|path| keys::load_public(path))
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|e| Refusal::Usage(format!("{e:#}")))?;
        let bytes = std::fs::read(envelope)
            .map_err(|e| Refusal::Usage(format!("read {}: {e}", envelope.display())))?;
        let plan: Vec<&str> = PLAN.iter().map(|(name, _)| *name).collect();
        acceptance::check(&bytes, &keys, &policy, &plan)
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
        Err(refusal) => {
            if json {
                println!("{}", acceptance::refusal_json(&refusal));
            } else {
                eprintln!(
                    "autocapture-gates: verify refused [{}]: {refusal}",
                    refusal.code()
                );
            }
            refusal.exit_code()
        }
    }
}
