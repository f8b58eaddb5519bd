//! Security cases of what is recorded: the audit log through `autocapture audit verify`, and
//! signed reports (edit, truncation, wrong key, replay).

use super::*;

/// Each kind of tampering with a copy of the DataRoot's audit log, caught by the real
/// `autocapture audit verify` (and a cut tail by a recorded head).
pub(super) fn audit_cases(bin: &Path, work: &Path, data: &Path) -> anyhow::Result<Vec<CaseReport>> {
    let log = AuditLog::in_data_root(data);
    let head = log.verify()?;
    let lines: Vec<String> = std::fs::read_to_string(log.path())?
        .lines()
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(
        lines.len() >= 3,
        "the audit cases need 3 lines, the log has {}",
        lines.len()
    );
    type Tamper = fn(&mut Vec<String>) -> String;
    let tampers: [(&str, &str, Tamper); 5] = [
        ("untampered", "ok", |l| l.join("\n") + "\n"),
        ("edited line", "audit_hash_mismatch", |l| {
            l[1] = l[1].replacen("\"outcome\":\"ok\"", "\"outcome\":\"OK\"", 1);
            l.join("\n") + "\n"
        }),
        ("deleted line", "audit_chain_mismatch", |l| {
            l.remove(1);
            l.join("\n") + "\n"
        }),
        ("reordered lines", "audit_chain_mismatch", |l| {
            l.swap(0, 1);
            l.join("\n") + "\n"
        }),
        ("truncated line", "audit_line_truncated", |l| {
            let last = l.len() - 1;
            let cut = l[last].len() / 2;
            l[last].truncate(cut);
            l.join("\n")
        }),
    ];
    let mut cases = Vec::new();
    for (name, expected, tamper) in tampers {
        let copy = work.join(format!("audit-{}", name.replace(' ', "-")));
        std::fs::create_dir_all(&copy)?;
        let mut edited = lines.clone();
        std::fs::write(copy.join("audit.ndjson"), tamper(&mut edited))?;
        let output = Command::new(bin)
            .args(["audit", "verify", "--json", "--data-dir"])
            .arg(&copy)
            .stdin(Stdio::null())
            .output()?;
        let (code, exit, panicked) = coded(&output);
        let mut report = case(format!("audit log: {name}"), expected);
        report.observed = code;
        report.panics = u64::from(panicked);
        report.detail = format!("exit {exit:?}");
        cases.push(report);
    }
    let mut report = case("audit log: lines cut from the end", "audit_tail_missing");
    let copy = work.join("audit-cut-tail.ndjson");
    std::fs::write(&copy, lines[..lines.len() - 1].join("\n") + "\n")?;
    report.observed = match verify_audit(&copy, Some(&head)) {
        Ok(_) => "verified".into(),
        Err(AuditError::Broken { kind, .. }) => kind.code().into(),
        Err(other) => other.code().into(),
    };
    report.detail = format!("against the recorded head of {} lines", head.lines);
    cases.push(report);
    Ok(cases)
}

/// A complete, passing, release-signed report's Statement (every gate of the plan passed), for
/// signing old and current reports; `change` edits its predicate.
pub fn release_statement(
    commit: &str,
    run_id: &str,
    finished: &str,
    change: fn(&mut Value),
) -> Value {
    let gates: Vec<Value> = crate::gates::PLAN
        .iter()
        .map(|(name, proves)| {
            json!({"name": name, "proves": proves, "verdict": "pass", "duration_ms": 1,
                   "measurements": {}, "evidence": [], "checks": [{"name": "held", "passed": true}]})
        })
        .collect();
    let mut predicate = json!({
        "predicate_version": report::PREDICATE_VERSION, "run_id": run_id,
        "started_at_utc": finished, "finished_at_utc": finished, "dev_signed": false,
        "contract_version": "1.0.0", "schema_hash": "0".repeat(64), "target": "embedded",
        "verdict": "pass", "gates": gates,
        "environment": {"os": "linux", "arch": "x86_64", "cpus": 2, "git_commit": commit,
                        "harness_version": "0.1.0"},
    });
    change(&mut predicate);
    json!({
        "_type": report::STATEMENT_TYPE,
        "subject": [{"name": "git-commit", "digest": {"gitCommit": commit}}],
        "predicateType": report::PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// How a verifier answers an envelope: `ok` or the error code, through
/// `autocapture-gates verify` when the harness binary is at hand, else in process.
fn verify_envelope(
    harness: Option<&Path>,
    envelope: &Path,
    public: &Path,
    expect: &freshness::Expectations,
) -> anyhow::Result<String> {
    if let Some(harness) = harness {
        let mut command = Command::new(harness);
        command
            .arg("verify")
            .arg(envelope)
            .arg("--public-key")
            .arg(public);
        if let Some(commit) = &expect.commit {
            command.args(["--expect-commit", commit]);
        }
        if let Some(run_id) = &expect.run_id {
            command.args(["--expect-run-id", run_id]);
        }
        if let Some(not_before) = expect.not_before {
            command.args([
                "--not-before",
                &autocapture_core::contract::format_ts_utc(not_before),
            ]);
        }
        let output = command.stdin(Stdio::null()).output()?;
        if output.status.success() {
            return Ok("ok".into());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Ok(stderr
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(code, _)| code.to_owned())
            .unwrap_or_else(|| format!("exit {:?}", output.status.code())));
    }
    let key = keys::load_public(public)?;
    let bytes = std::fs::read(envelope)?;
    let policy = acceptance::Policy {
        expect: expect.clone(),
        ..Default::default()
    };
    let plan: Vec<&str> = crate::gates::PLAN.iter().map(|(name, _)| *name).collect();
    Ok(match acceptance::check(&bytes, &[key], &policy, &plan) {
        Ok(_) => "ok".into(),
        Err(refusal) => refusal.code().into(),
    })
}

/// Signed reports: an edited or truncated envelope, a foreign key, and an older validly signed
/// report presented as the current one (another commit, another run, finished too early).
pub(super) fn report_cases(work: &Path, harness: Option<&Path>) -> anyhow::Result<Vec<CaseReport>> {
    let dir = work.join("reports");
    std::fs::create_dir_all(&dir)?;
    let key = keys::generate()?;
    let public = dir.join("report.pub");
    keys::write_public(&public, &key.verifying_key())?;
    let other = keys::generate()?;
    let other_public = dir.join("other.pub");
    keys::write_public(&other_public, &other.verifying_key())?;
    let (old_commit, new_commit) = ("a".repeat(40), "b".repeat(40));
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    };
    let sign = |value: &Value| -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&dsse::sign(
            &serde_json::to_vec(value)?,
            &key,
        ))?)
    };
    let current_with = |change: fn(&mut Value)| {
        sign(&release_statement(
            &new_commit,
            "20260301T100000000000Z",
            "2026-03-01T10:05:00.000000Z",
            change,
        ))
    };
    let current = current_with(|_| {})?;
    let old = sign(&release_statement(
        &old_commit,
        "20260201T100000000000Z",
        "2026-02-01T10:05:00.000000Z",
        |_| {},
    ))?;
    let failing = current_with(|p| {
        p["verdict"] = json!("fail");
        p["gates"][3]["verdict"] = json!("fail");
    })?;
    let lying = current_with(|p| p["gates"][3]["verdict"] = json!("error"))?;
    let partial = current_with(|p| {
        p["verdict"] = json!("partial");
        p["gates"][3]["verdict"] = json!("skipped");
    })?;
    let short = current_with(|p| {
        if let Some(gates) = p["gates"].as_array_mut() {
            gates.truncate(3);
        }
    })?;
    let dev_signed = current_with(|p| p["dev_signed"] = json!(true))?;
    let mut edited: Value = serde_json::from_slice(&current)?;
    let payload = edited["payload"].as_str().unwrap_or_default().to_owned();
    let body = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &payload)?;
    let changed = String::from_utf8_lossy(&body).replacen("\"pass\"", "\"fail\"", 1);
    edited["payload"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        changed.as_bytes()
    ));
    let expect_current = freshness::Expectations {
        commit: Some(new_commit.clone()),
        run_id: Some("20260301T100000000000Z".into()),
        not_before: Some(time::macros::datetime!(2026-03-01 10:00 UTC)),
    };
    let only = |f: fn(&freshness::Expectations) -> freshness::Expectations| f(&expect_current);
    let cases_in: Vec<(&str, &str, PathBuf, &Path, freshness::Expectations)> = vec![
        (
            "the current report verifies",
            "ok",
            write("current.dsse.json", &current)?,
            &public,
            expect_current.clone(),
        ),
        (
            "an edited report",
            "envelope_signature_invalid",
            write("edited.dsse.json", &serde_json::to_vec(&edited)?)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a truncated report",
            "envelope_invalid",
            write("truncated.dsse.json", &current[..current.len() / 2])?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a report checked with the wrong key",
            "envelope_wrong_key",
            write("current-again.dsse.json", &current)?,
            &other_public,
            freshness::Expectations::default(),
        ),
        (
            "a report whose verdict is fail",
            "report_not_pass",
            write("failing.dsse.json", &failing)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a report saying pass over an erroring gate",
            "report_not_pass",
            write("lying.dsse.json", &lying)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a partial report (a gate skipped)",
            "report_partial",
            write("partial.dsse.json", &partial)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a report saying pass over 3 gates of the plan",
            "report_partial",
            write("short.dsse.json", &short)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "a dev-signed report",
            "report_dev_signed",
            write("dev-signed.dsse.json", &dev_signed)?,
            &public,
            freshness::Expectations::default(),
        ),
        (
            "an older report replayed (commit)",
            "report_commit_mismatch",
            write("old.dsse.json", &old)?,
            &public,
            only(|e| freshness::Expectations {
                commit: e.commit.clone(),
                ..Default::default()
            }),
        ),
        (
            "an older report replayed (run id)",
            "report_run_id_mismatch",
            dir.join("old.dsse.json"),
            &public,
            only(|e| freshness::Expectations {
                run_id: e.run_id.clone(),
                ..Default::default()
            }),
        ),
        (
            "an older report replayed (not before)",
            "report_stale",
            dir.join("old.dsse.json"),
            &public,
            only(|e| freshness::Expectations {
                not_before: e.not_before,
                ..Default::default()
            }),
        ),
    ];
    let mut cases = Vec::new();
    for (name, expected, envelope, key_file, expect) in cases_in {
        let mut report = case(format!("signed report: {name}"), expected);
        report.observed = verify_envelope(harness, &envelope, key_file, &expect)?;
        report.detail = if harness.is_some() {
            "autocapture-gates verify".into()
        } else {
            "in process".into()
        };
        cases.push(report);
    }
    Ok(cases)
}
