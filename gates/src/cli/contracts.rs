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

/// Schemas, annotations, lock and doc problems of the workspace's contracts.
pub(super) fn contract_problems() -> anyhow::Result<Vec<String>> {
    let dir = contract::default_contracts_dir()?;
    let set = ContractSet::load(&dir)?;
    let mut problems = Vec::new();
    for doc in set.docs.values() {
        for p in annotations::check(&doc.file_name, &doc.value) {
            problems.push(format!("{}{}: {}", p.file, p.pointer, p.problem));
        }
    }
    problems.extend(lock::check(&dir)?);
    let committed = std::fs::read_to_string(contract::workspace_root()?.join(doc::DOC_PATH))
        .unwrap_or_default();
    match doc::regenerate(&set, &lock::compute(&dir)?, &committed) {
        Ok(rendered) => problems.extend(doc::staleness(&committed, &rendered)),
        Err(problem) => problems.push(problem),
    }
    Ok(problems)
}
