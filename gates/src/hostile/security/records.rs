//! Security cases of what is recorded: the audit log through `autocapture audit verify`, and
//! signed reports (edit, truncation, wrong key, replay).

use super::*;
use crate::gates::audit_gate::forge;

/// Runs `autocapture audit <args> --json --data-dir dir` (with `plant` set in a planted build)
/// and returns its code, exit and whether it panicked.
fn audit_command(
    bin: &Path,
    args: &[&str],
    dir: &Path,
    plant: Option<&str>,
) -> anyhow::Result<(String, Option<i32>, bool)> {
    let mut command = Command::new(bin);
    command
        .arg("audit")
        .args(args)
        .args(["--json", "--data-dir"])
        .arg(dir)
        .stdin(Stdio::null());
    if let Some(plant) = plant {
        command.env(autocapture_core::base::crash::ENV_PLANT, plant);
    }
    Ok(coded(&command.output()?))
}

/// Each kind of tampering with a copy of the DataRoot's audit log, caught by the real
/// `autocapture audit verify` (a cut tail through the reap marker's `audit_head` as witness); a
/// torn tail repaired by `autocapture audit repair` and a foreign tail refused by it; and the
/// planted build (`audit_mac_unchecked`, `audit_repair_any_tail`) caught by the same cases.
pub(super) fn audit_cases(
    bin: &Path,
    planted_bin: &Path,
    work: &Path,
    data: &Path,
    marker: &Path,
) -> anyhow::Result<Vec<CaseReport>> {
    let log = AuditLog::in_data_root(data);
    log.verify()?;
    let text = std::fs::read_to_string(log.path())?;
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        lines.len() >= 3,
        "the audit cases need 3 lines, the log has {}",
        lines.len()
    );
    type Tamper = fn(&[String], &[Value]) -> String;
    let tampers: [(&str, &str, Tamper); 7] = [
        ("untampered", "ok", |l, _| l.join("\n") + "\n"),
        ("edited line", "audit_hash_mismatch", |l, _| {
            let mut l = l.to_vec();
            l[1] = l[1].replacen("\"outcome\":\"", "\"outcome\":\"X", 1);
            l.join("\n") + "\n"
        }),
        (
            "forged line with its hash recomputed",
            "audit_mac_mismatch",
            |_, v| forge::render(&forge::line_2_edited(v)),
        ),
        (
            "re-chained history from line 1",
            "audit_mac_mismatch",
            |_, v| forge::render(&forge::rechained_from_line_1(v)),
        ),
        ("deleted line", "audit_chain_mismatch", |l, _| {
            let mut l = l.to_vec();
            l.remove(1);
            l.join("\n") + "\n"
        }),
        ("reordered lines", "audit_chain_mismatch", |l, _| {
            let mut l = l.to_vec();
            l.swap(0, 1);
            l.join("\n") + "\n"
        }),
        ("truncated line", "audit_line_truncated", |l, _| {
            let mut l = l.to_vec();
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
        std::fs::write(copy.join("audit.ndjson"), tamper(&lines, &parsed))?;
        let (code, exit, panicked) = audit_command(bin, &["verify"], &copy, None)?;
        let mut report = case(format!("audit log: {name}"), expected);
        report.observed = code;
        report.panics = u64::from(panicked);
        report.detail = format!("exit {exit:?}");
        cases.push(report);
        // Only the key catches these two: a build that skips the mac must let both through.
        if expected == "audit_mac_mismatch" {
            let (code, _, panicked) =
                audit_command(planted_bin, &["verify"], &copy, Some("audit_mac_unchecked"))?;
            let mut planted = case(format!("planted audit_mac_unchecked: {name}"), "found");
            planted.observed = if code == "ok" {
                "found".into()
            } else {
                format!("missed: the planted build answered {code}")
            };
            planted.panics = u64::from(panicked);
            cases.push(planted);
        }
    }

    // Lines cut from the end, against the witness the Hypervisor side holds: the marker.
    let copy = work.join("audit-cut-tail");
    std::fs::create_dir_all(&copy)?;
    let witness: Value = serde_json::from_slice(&std::fs::read(marker)?)?;
    let keep = witness["audit_head"]["seq"]
        .as_u64()
        .unwrap_or(1)
        .saturating_sub(1) as usize;
    std::fs::write(copy.join("audit.ndjson"), lines[..keep].join("\n") + "\n")?;
    let witness_arg = marker.to_string_lossy().into_owned();
    let (code, exit, panicked) =
        audit_command(bin, &["verify", "--witness", &witness_arg], &copy, None)?;
    let mut report = case(
        "audit log: lines cut below the marker's audit_head",
        "audit_tail_missing",
    );
    report.observed = code;
    report.panics = u64::from(panicked);
    report.detail = format!(
        "exit {exit:?}; kept {keep} lines, the marker names line {}",
        keep + 1
    );
    cases.push(report);

    // A torn tail as an append the disk interrupted leaves it: repaired and recorded.
    let copy = work.join("audit-torn-repaired");
    std::fs::create_dir_all(&copy)?;
    let torn = &lines[lines.len() - 1][..40];
    std::fs::write(copy.join("audit.ndjson"), format!("{text}{torn}"))?;
    let (repaired, _, p1) = audit_command(bin, &["repair"], &copy, None)?;
    let (verified, _, p2) = audit_command(bin, &["verify"], &copy, None)?;
    let quarantined = std::fs::read_dir(copy.join("audit.ndjson.quarantine"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| std::fs::read(e.path()).is_ok_and(|b| b == torn.as_bytes()))
        })
        .unwrap_or(false);
    let recorded = std::fs::read_to_string(copy.join("audit.ndjson"))?
        .lines()
        .last()
        .is_some_and(|l| l.contains("\"audit.repair\""));
    let mut report = case(
        "audit log: a torn tail is quarantined and recorded",
        "repaired",
    );
    report.observed = if repaired == "ok" && verified == "ok" && quarantined && recorded {
        "repaired".into()
    } else {
        format!(
            "repair {repaired}, verify {verified}, quarantined {quarantined}, recorded {recorded}"
        )
    };
    report.panics = u64::from(p1 || p2);
    cases.push(report);

    // A tail that is not the start of an audit line is damage, not a torn append.
    for (build, plant) in [(bin, None), (planted_bin, Some("audit_repair_any_tail"))] {
        let copy = work.join(format!("audit-foreign-tail-{}", plant.unwrap_or("real")));
        std::fs::create_dir_all(&copy)?;
        std::fs::write(
            copy.join("audit.ndjson"),
            format!("{text}appended by someone"),
        )?;
        let (code, _, panicked) = audit_command(build, &["repair"], &copy, plant)?;
        let mut report = match plant {
            None => {
                let mut r = case(
                    "audit log: a foreign tail is refused by repair",
                    "audit_line_truncated",
                );
                r.observed = code;
                r
            }
            Some(plant) => {
                let mut r = case(format!("planted {plant}: a foreign tail"), "found");
                r.observed = if code == "ok" {
                    "found".into()
                } else {
                    format!("missed: the planted build answered {code}")
                };
                r
            }
        };
        report.panics = u64::from(panicked);
        cases.push(report);
    }
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
