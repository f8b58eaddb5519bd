//! Steps on the audit chain.

use super::*;

impl ContractWorld {
    pub(super) fn audit_lines(&mut self) -> anyhow::Result<Vec<Value>> {
        let path = self
            .data()?
            .root
            .join(autocapture_core::audit::AUDIT_FILE_NAME);
        std::fs::read_to_string(&path)
            .with_context(|| format!("read {}", path.display()))?
            .lines()
            .map(|line| Ok(serde_json::from_str(line)?))
            .collect()
    }

    pub fn one_ingest_line_per_handoff(
        &mut self,
        action: &str,
        outcome: &str,
    ) -> anyhow::Result<()> {
        let lines = self.audit_lines()?;
        let handoffs = self.spool_handoffs()?.len();
        let found = lines
            .iter()
            .filter(|l| l["action"] == json!(action) && l["outcome"] == json!(outcome))
            .count();
        ensure!(
            found == handoffs && handoffs > 0,
            "{found} {action:?} lines with outcome {outcome:?} for {handoffs} handoffs"
        );
        Ok(())
    }

    pub fn chain_links(&mut self) -> anyhow::Result<()> {
        let lines = self.audit_lines()?;
        let mut prev = Value::Null;
        for (idx, line) in lines.iter().enumerate() {
            ensure!(
                line["prev_hash"] == prev,
                "line {}: prev_hash {} instead of {}",
                idx + 1,
                show(&line["prev_hash"]),
                show(&prev)
            );
            prev = line["hash"].clone();
        }
        Ok(())
    }

    pub fn verify_audit(&mut self) -> anyhow::Result<()> {
        let data = self.data()?;
        self.autocapture(&[
            "audit".into(),
            "verify".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ])
    }

    pub fn last_audit_line(
        &mut self,
        action: &str,
        outcome: &str,
        equal: bool,
    ) -> anyhow::Result<()> {
        let lines = self.audit_lines()?;
        let last = lines.last().context("the audit log is empty")?;
        ensure!(
            last["action"] == json!(action) && ((last["outcome"] == json!(outcome)) == equal),
            "last audit line: action {} outcome {}",
            show(&last["action"]),
            show(&last["outcome"])
        );
        Ok(())
    }

    pub fn audit_log_of(&mut self, n: usize) -> anyhow::Result<()> {
        let data = self.data()?;
        std::fs::create_dir_all(&data.root)?;
        let log = AuditLog::in_data_root(&data.root);
        for idx in 0..n {
            log.append(
                &AuditEvent {
                    action: "handoff.ingest".into(),
                    actor: "features".into(),
                    outcome: "ok".into(),
                    details: json!({"handoff": format!("h{idx}")}),
                },
                BUILD_TIME + time::Duration::seconds(idx as i64),
            )?;
        }
        Ok(())
    }

    pub(super) fn edit_audit(
        &mut self,
        edit: impl FnOnce(&mut Vec<String>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let path = self
            .data()?
            .root
            .join(autocapture_core::audit::AUDIT_FILE_NAME);
        let text = std::fs::read_to_string(&path)?;
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        edit(&mut lines)?;
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(&path, out)?;
        Ok(())
    }

    pub fn change_audit_outcome(&mut self, line: usize, outcome: &str) -> anyhow::Result<()> {
        self.edit_audit(|lines| {
            let target = lines.get_mut(line - 1).context("no such line")?;
            ensure!(
                target.contains("\"outcome\":\"ok\""),
                "line {line} has no ok outcome"
            );
            *target = target.replace("\"outcome\":\"ok\"", &format!("\"outcome\":\"{outcome}\""));
            Ok(())
        })
    }

    pub fn delete_audit_line(&mut self, line: usize) -> anyhow::Result<()> {
        self.edit_audit(|lines| {
            ensure!(line >= 1 && line <= lines.len(), "no line {line}");
            lines.remove(line - 1);
            Ok(())
        })
    }

    pub fn tear_audit_tail(&mut self, bytes: usize) -> anyhow::Result<()> {
        let path = self
            .data()?
            .root
            .join(autocapture_core::audit::AUDIT_FILE_NAME);
        let mut text = std::fs::read(&path)?;
        ensure!(text.len() > bytes, "the log is shorter than {bytes} bytes");
        text.truncate(text.len() - bytes);
        std::fs::write(&path, text)?;
        Ok(())
    }

    pub fn error_names_line(&mut self, line: u64) -> anyhow::Result<()> {
        let found = self.last()?.json()?["error"]["line"].clone();
        ensure!(
            found == json!(line),
            "the error names line {} instead of {line}",
            show(&found)
        );
        Ok(())
    }
}
