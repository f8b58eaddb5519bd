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
    let dir = contract::default_contracts_dir()?;
    if check {
        let problems = lock::check(&dir)?;
        for problem in &problems {
            eprintln!("{problem}");
        }
        return Ok(exit::of(problems.is_empty()));
    }
    let computed = lock::compute(&dir)?;
    std::fs::write(dir.join(lock::LOCK_FILE), lock::render(&computed)?)?;
    println!(
        "contract_version {}\nschema_hash {}",
        computed.contract_version, computed.schema_hash
    );
    Ok(exit::PASS)
}

pub(super) fn contract_doc(check: bool) -> anyhow::Result<u8> {
    let dir = contract::default_contracts_dir()?;
    let set = ContractSet::load(&dir)?;
    let path = contract::workspace_root()?.join(doc::DOC_PATH);
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let rendered =
        doc::regenerate(&set, &lock::compute(&dir)?, &committed).map_err(anyhow::Error::msg)?;
    if check {
        if let Some(problem) = doc::staleness(&committed, &rendered) {
            eprintln!("{problem}");
            return Ok(exit::FAIL);
        }
        return Ok(exit::PASS);
    }
    std::fs::write(&path, rendered).with_context(|| format!("write {}", path.display()))?;
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
    let dir = contract::default_contracts_dir()?;
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
/// document with `--json`; exit 0 when there is none, 1 otherwise.
pub(super) fn contract_check(sister: Option<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let mut problems = contract_problems()?;
    let path = sister.map_or_else(default_sister_path, Ok)?;
    let checkpoint = checkpoint(&path)?;
    if !checkpoint.matches {
        problems.push(ContractProblem::new(
            "contract_sister_mismatch",
            path.display().to_string(),
            sister_mismatch(&checkpoint)?,
        ));
    }
    let ours = ContractIdentity::embedded()?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": problems.is_empty(),
                "contract_version": ours.contract_version,
                "schema_hash": ours.schema_hash,
                "sister": {"path": path, "contract_version": checkpoint.contract_version,
                           "schema_hash": checkpoint.schema_hash, "matches": checkpoint.matches},
                "problems": problems,
            })
        );
    } else {
        for problem in &problems {
            eprintln!(
                "autocapture-gates: error[{}]: {} ({})",
                problem.code, problem.message, problem.path
            );
        }
        if problems.is_empty() {
            println!("contract ok");
        }
    }
    Ok(exit::of(problems.is_empty()))
}
