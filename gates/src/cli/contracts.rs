//! `autocapture-gates contract …`: the lock, the generated doc, the checks, the sister pair.

use super::*;

pub(super) fn sister_mismatch(sister: &SisterCheckpoint) -> anyhow::Result<String> {
    let ours = ContractIdentity::embedded()?;
    Ok(format!(
        "the Hypervisor's sister document has contract_version {} and schema_hash {}; ours are {} and {}",
        sister.contract_version, sister.schema_hash, ours.contract_version, ours.schema_hash
    ))
}

pub(super) fn contract_lock(check: bool) -> anyhow::Result<u8> {
    let dir = contract::default_contracts_dir().map_err(error::checkout_missing)?;
    if check {
        let problems = lock::check(&dir)?;
        for problem in &problems {
            CliError::new("contract_lock_stale", problem.as_str(), exit::FAIL)
                .at(format!("contracts/{}", lock::LOCK_FILE))
                .eprint();
        }
        return Ok(exit::of(problems.is_empty()));
    }
    let computed = lock::compute(&dir)?;
    let path = dir.join(lock::LOCK_FILE);
    std::fs::write(&path, lock::render(&computed)?)
        .map_err(|e| CliError::out_unwritable(&path, &e))?;
    println!(
        "contract_version {}\nschema_hash {}",
        computed.contract_version, computed.schema_hash
    );
    Ok(exit::PASS)
}

pub(super) fn contract_doc(check: bool) -> anyhow::Result<u8> {
    let dir = contract::default_contracts_dir().map_err(error::checkout_missing)?;
    let set = ContractSet::load(&dir)?;
    let path = contract::workspace_root()
        .map_err(error::checkout_missing)?
        .join(doc::DOC_PATH);
    let committed = std::fs::read_to_string(&path)
        .map_err(|e| CliError::input("the contract doc", &path, &e))?;
    let rendered = doc::regenerate(&set, &lock::compute(&dir)?, &committed)
        .map_err(|m| CliError::new("contract_doc_invalid", m, exit::FAIL).at(doc::DOC_PATH))?;
    if check {
        if let Some(problem) = doc::staleness(&committed, &rendered) {
            CliError::new("contract_doc_stale", problem, exit::FAIL)
                .at(doc::DOC_PATH)
                .eprint();
            return Ok(exit::FAIL);
        }
        return Ok(exit::PASS);
    }
    std::fs::write(&path, rendered).map_err(|e| CliError::out_unwritable(&path, &e))?;
    println!("wrote {}", doc::DOC_PATH);
    Ok(exit::PASS)
}

/// One problem `contract check` found: a stable code, the file at fault and what is wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct ContractProblem {
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

impl ContractProblem {
    fn new(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        ContractProblem {
            code,
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Schemas, annotations, lock and doc problems of the workspace's contracts.
pub(super) fn contract_problems() -> anyhow::Result<Vec<ContractProblem>> {
    let dir = contract::default_contracts_dir().map_err(error::checkout_missing)?;
    let set = ContractSet::load(&dir)?;
    let mut problems = Vec::new();
    for doc in set.docs.values() {
        for p in annotations::check(&doc.file_name, &doc.value) {
            problems.push(ContractProblem::new(
                "contract_annotation_missing",
                format!("contracts/{}", p.file),
                format!("{}{}: {}", p.file, p.pointer, p.problem),
            ));
        }
    }
    let lock_path = format!("contracts/{}", lock::LOCK_FILE);
    problems.extend(
        lock::check(&dir)?
            .into_iter()
            .map(|m| ContractProblem::new("contract_lock_stale", &lock_path, m)),
    );
    let committed = std::fs::read_to_string(contract::workspace_root()?.join(doc::DOC_PATH))
        .unwrap_or_default();
    match doc::regenerate(&set, &lock::compute(&dir)?, &committed) {
        Ok(rendered) => problems.extend(
            doc::staleness(&committed, &rendered)
                .map(|m| ContractProblem::new("contract_doc_stale", doc::DOC_PATH, m)),
        ),
        Err(m) => problems.push(ContractProblem::new(
            "contract_doc_invalid",
            doc::DOC_PATH,
            m,
        )),
    }
    Ok(problems)
}

/// `contract check`: every problem as `error[code]: message (path)` on stderr, or one JSON
/// document with `--json` (its `error` the first problem); exit 0 when there is none, 1
/// otherwise.
pub(super) fn contract_check(sister: Option<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let mut problems = contract_problems()?;
    let path = sister.map_or_else(
        || default_sister_path().map_err(error::checkout_missing),
        Ok,
    )?;
    let checkpoint = checkpoint(&path)?;
    if !checkpoint.matches {
        problems.push(ContractProblem::new(
            "contract_sister_mismatch",
            path.display().to_string(),
            sister_mismatch(&checkpoint)?,
        ));
    }
    let ours = ContractIdentity::embedded()?;
    let errors: Vec<CliError> = problems
        .iter()
        .map(|p| CliError::new(p.code, p.message.as_str(), exit::FAIL).at(&p.path))
        .collect();
    if json {
        let mut document = serde_json::json!({
            "ok": problems.is_empty(),
            "contract_version": ours.contract_version,
            "schema_hash": ours.schema_hash,
            "sister": {"path": path, "contract_version": checkpoint.contract_version,
                       "schema_hash": checkpoint.schema_hash, "matches": checkpoint.matches},
            "problems": problems,
        });
        if let Some(first) = errors.first() {
            document["error"] = first.document()["error"].take();
        }
        println!("{document}");
    } else {
        for error in &errors {
            error.eprint();
        }
        if problems.is_empty() {
            println!("contract ok");
        }
    }
    Ok(exit::of(problems.is_empty()))
}
