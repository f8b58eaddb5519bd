//! The config matrix with the real binaries: configuration warnings and fail-closed codes, flag
//! precedence, schema/binary agreement (and a planted disagreement), the Hypervisor's command
//! lines under both binaries (and a planted wrong exit code), both positions of each rollback flag.

use std::path::{Path, PathBuf};

use autocapture_gates::config_matrix::{
    COMMANDS_PATH, CONFIG_FIXTURES, HypervisorCommands, compare_binaries, env_and_flag,
    flag_positions, normalise, run_cli, schema_agreement,
};
use autocapture_gates::contract::schemas::ContractSet;
use autocapture_gates::contract::{default_contracts_dir, workspace_root};
use serde_json::json;

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn bins() -> (PathBuf, PathBuf) {
    let bin = autocapture_gates::harness::bins::autocapture_beside(Path::new(HARNESS))
        .expect("autocapture");
    let prime = bin.with_file_name("autocapture-prime");
    assert!(
        prime.is_file(),
        "autocapture-prime is built beside autocapture"
    );
    (bin, prime)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn spool(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    autocapture_gates::corpus::build::spool(dir, 7, 40, 2).expect("spool")
}

#[test]
fn unknown_keys_warn_and_bad_values_fail_closed_with_their_key() {
    let (bin, _) = bins();
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("c.json");
    std::fs::write(
        &config,
        r#"{"ingest": {"mode": "copy", "turbo": true}, "telemetry": {}}"#,
    )
    .expect("write");
    let run = run_cli(
        &bin,
        &args(&[
            "--config",
            &config.display().to_string(),
            "contract",
            "show",
            "--json",
        ]),
        dir.path(),
        &[],
    )
    .expect("run");
    assert_eq!(run.exit, Some(0), "{}", run.stderr);
    let keys: Vec<&str> = run.json["config_warnings"]
        .as_array()
        .expect("warnings in the JSON")
        .iter()
        .filter_map(|w| w["key"].as_str())
        .collect();
    assert_eq!(keys, vec!["ingest.turbo", "telemetry"]);
    assert!(
        run.stderr
            .contains("warning[config_key_unknown]: unknown key ingest.turbo ignored"),
        "{}",
        run.stderr
    );
    for (document, code, key) in [
        (
            r#"{"server": {"bind": "192.168.1.10:8787"}}"#,
            "config_bind_not_loopback",
            "server.bind",
        ),
        (
            r#"{"server": {"bind": "0.0.0.0:8787"}}"#,
            "config_bind_not_loopback",
            "server.bind",
        ),
        (
            r#"{"ingest": {"ledger_fast_path": "off"}}"#,
            "config_invalid",
            "ingest.ledger_fast_path",
        ),
        (r#"{"uia": 3}"#, "config_invalid", "uia"),
        (r#"[1]"#, "config_invalid", ""),
    ] {
        std::fs::write(&config, document).expect("write");
        let run = run_cli(
            &bin,
            &args(&[
                "--config",
                &config.display().to_string(),
                "contract",
                "show",
                "--json",
            ]),
            dir.path(),
            &[],
        )
        .expect("run");
        assert_eq!(run.exit, Some(2), "{document}");
        assert_eq!(run.json["error"]["code"], json!(code), "{document}");
        if !key.is_empty() {
            assert_eq!(run.json["error"]["key"], json!(key), "{document}");
        }
    }
    let missing = run_cli(
        &bin,
        &args(&["--config", "/nonexistent/c.json", "contract", "show"]),
        dir.path(),
        &[],
    )
    .expect("run");
    assert_eq!(missing.exit, Some(2));
    assert!(
        missing.stderr.contains("error[config_unreadable]"),
        "{}",
        missing.stderr
    );
}

#[test]
fn flags_win_over_the_config_and_the_config_over_defaults() {
    let (bin, _) = bins();
    let dir = tempfile::tempdir().expect("temp");
    let (_, handoffs) = spool(dir.path());
    let config = dir.path().join("copy.json");
    std::fs::write(&config, r#"{"ingest": {"mode": "copy"}}"#).expect("write");
    let ingest = |data: &str, extra: &[&str]| {
        let mut list = vec!["--config".to_owned(), config.display().to_string()];
        list.extend(args(&["handoff", "ingest", "--handoff-root"]));
        list.push(handoffs[0].display().to_string());
        list.push("--data-dir".into());
        list.push(dir.path().join(data).display().to_string());
        list.push("--json".into());
        list.extend(args(extra));
        run_cli(&bin, &list, dir.path(), &[]).expect("run")
    };
    let configured = ingest("configured", &[]);
    assert_eq!(configured.exit, Some(0), "{}", configured.stderr);
    assert_eq!(configured.json["counts"]["media_files_linked"], json!(0));
    assert!(configured.json["counts"]["media_files_copied"].as_u64() > Some(0));
    let flagged = ingest("flagged", &["--mode", "hardlink"]);
    assert_eq!(flagged.json["counts"]["media_files_copied"], json!(0));
    assert!(flagged.json["counts"]["media_files_linked"].as_u64() > Some(0));
}

#[test]
fn schema_and_binary_agree_on_the_fixtures_and_a_planted_disagreement_is_named() {
    let (bin, _) = bins();
    let set = ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("schemas");
    let (count, problems) = schema_agreement(
        &set,
        &bin,
        &workspace_root().expect("a checkout").join(CONFIG_FIXTURES),
    )
    .expect("agreement");
    assert!(count >= 10, "{count}");
    assert_eq!(problems, Vec::<String>::new());

    let dir = tempfile::tempdir().expect("temp");
    for kind in ["valid", "invalid"] {
        std::fs::create_dir_all(dir.path().join(kind)).expect("mkdir");
    }
    std::fs::write(
        dir.path().join("valid/open_bind.json"),
        r#"{"server": {"bind": "0.0.0.0:8787"}}"#,
    )
    .expect("write");
    std::fs::write(
        dir.path().join("invalid/fine.json"),
        r#"{"ingest": {"strict": false}}"#,
    )
    .expect("write");
    let (_, problems) = schema_agreement(&set, &bin, dir.path()).expect("agreement");
    let text = problems.join("\n");
    assert!(
        text.contains("open_bind.json: the schema rejects it"),
        "{text}"
    );
    assert!(
        text.contains("open_bind.json (valid): the binary gave exit Some(2), code \"config_bind_not_loopback\""),
        "{text}"
    );
    assert!(text.contains("fine.json: the schema accepts it"), "{text}");
    assert!(
        text.contains("fine.json (invalid): the binary gave exit Some(0)"),
        "{text}"
    );
}

#[test]
fn the_environment_names_the_config_and_the_flag_wins() {
    let (bin, _) = bins();
    let dir = tempfile::tempdir().expect("temp");
    let checks = env_and_flag(
        &bin,
        &workspace_root().expect("a checkout").join(CONFIG_FIXTURES),
        dir.path(),
    )
    .expect("checks");
    assert_eq!(checks.len(), 2);
    for check in checks {
        assert!(check.passed, "{}: {}", check.name, check.detail);
    }
}

#[test]
fn the_hypervisor_command_lines_behave_identically_under_both_binaries() {
    let (bin, prime) = bins();
    let dir = tempfile::tempdir().expect("temp");
    let (spool, _) = spool(dir.path());
    let commands =
        HypervisorCommands::load(&workspace_root().expect("a checkout").join(COMMANDS_PATH))
            .expect("commands");
    let (ran, problems) =
        compare_binaries(&commands, [&bin, &prime], &spool, &dir.path().join("ok")).expect("run");
    assert_eq!(ran, commands.command.len());
    assert_eq!(problems, Vec::<String>::new());

    // Planted: the file expects the missing handoff to succeed.
    let mut planted = commands.clone();
    let missing = planted
        .command
        .iter_mut()
        .find(|c| c.name == "handoff ingest of a missing handoff")
        .expect("the missing-handoff command");
    missing.exit = 0;
    let (_, problems) =
        compare_binaries(&planted, [&bin, &prime], &spool, &dir.path().join("bad")).expect("run");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| p.starts_with("\"handoff ingest of a missing handoff\"")
                && p.contains("exit Some(1), expected 0")),
        "{problems:?}"
    );
}

#[test]
fn normalising_drops_volatile_keys_and_the_area_only() {
    let volatile = vec!["ingest_run_id".to_owned()];
    let a = json!({"ingest_run_id": "x", "data_root": "/w/a/data", "rows": [{"ingest_run_id": 1, "n": 2}]});
    let b = json!({"ingest_run_id": "y", "data_root": "/w/b/data", "rows": [{"ingest_run_id": 3, "n": 2}]});
    assert_eq!(
        normalise(&a, &volatile, "/w/a"),
        normalise(&b, &volatile, "/w/b")
    );
    let c = json!({"ingest_run_id": "y", "data_root": "/w/b/data", "rows": [{"n": 3}]});
    assert_ne!(
        normalise(&a, &volatile, "/w/a"),
        normalise(&c, &volatile, "/w/b")
    );
}

#[test]
fn both_positions_of_each_rollback_flag_do_what_they_say() {
    let (bin, _) = bins();
    let dir = tempfile::tempdir().expect("temp");
    let (_, handoffs) = spool(dir.path());
    // Given as a path relative to the test's working folder, as `run --out target/…` gives it:
    // the binary runs in folders under it, so the check must resolve it first.
    let cwd = std::env::current_dir().expect("cwd");
    let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
    let relative = up.join(
        dir.path()
            .join("flags")
            .strip_prefix("/")
            .expect("absolute"),
    );
    assert!(relative.is_relative());
    let checks = flag_positions(&bin, &handoffs[0], &relative).expect("checks");
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(checks.len(), 5, "{names:?}");
    for check in &checks {
        assert!(check.passed, "{}: {}", check.name, check.detail);
    }
}
