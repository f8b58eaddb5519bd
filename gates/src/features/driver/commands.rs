//! Steps on command outcomes.

use super::*;

impl ContractWorld {
    pub fn command_succeeds(&mut self) -> anyhow::Result<()> {
        let last = self.last()?;
        ensure!(last.exit == 0, "expected success, {}", last.describe());
        if let Some(json) = &last.json {
            ensure!(
                json["ok"] == json!(true),
                "expected \"ok\": true, {}",
                last.describe()
            );
        }
        Ok(())
    }

    pub fn command_fails_with(&mut self, exit: i32, code: &str) -> anyhow::Result<()> {
        let last = self.last()?;
        ensure!(
            last.exit == exit && last.error_code().as_deref() == Some(code),
            "expected exit {exit} with code {code:?}, {}",
            last.describe()
        );
        Ok(())
    }

    pub fn command_fails_with_prefix(&mut self, exit: i32, prefix: &str) -> anyhow::Result<()> {
        let last = self.last()?;
        ensure!(
            last.exit == exit
                && last
                    .error_code()
                    .is_some_and(|code| code.starts_with(prefix)),
            "expected exit {exit} with a code starting {prefix:?}, {}",
            last.describe()
        );
        Ok(())
    }

    pub fn data_root_unchanged(&mut self) -> anyhow::Result<()> {
        let before = self
            .before
            .clone()
            .context("the DataRoot did not exist before the action (nothing to compare)")?;
        let after = digest(&self.data()?.root)?;
        ensure!(
            before == after,
            "the DataRoot changed: before {before:?}, after {after:?}"
        );
        Ok(())
    }

    pub fn rows_unchanged(&mut self) -> anyhow::Result<()> {
        let handoff_rows = rows_of(&self.handoff()?.join("metadata.db"))?;
        let data_rows: std::collections::BTreeMap<String, Option<String>> =
            rows_of(&self.data()?.metadata_db())?.into_iter().collect();
        ensure!(!handoff_rows.is_empty(), "the handoff has no rows");
        for (id, payload) in &handoff_rows {
            match data_rows.get(id) {
                Some(found) if found == payload => {}
                Some(_) => bail!("row {id}: the DataRoot's payload bytes differ"),
                None => bail!("row {id} is missing from the DataRoot"),
            }
        }
        Ok(())
    }

    pub fn media_unchanged(&mut self) -> anyhow::Result<()> {
        let media = self.handoff()?.join("media");
        let data_media = self.data()?.media_dir();
        let files = files_under(&media)?;
        ensure!(!files.is_empty(), "the handoff has no media file");
        for rel in files {
            let copied = std::fs::read(data_media.join(&rel))
                .with_context(|| format!("media file {} in the DataRoot", rel.display()))?;
            ensure!(
                copied == std::fs::read(media.join(&rel))?,
                "media file {}: bytes differ",
                rel.display()
            );
        }
        Ok(())
    }

    pub fn ingest_reports_layout(&mut self, layout: &str) -> anyhow::Result<()> {
        let found = self.last()?.json()?["layout"].clone();
        ensure!(
            found == json!(layout),
            "expected layout {layout:?}, got {}",
            show(&found)
        );
        Ok(())
    }

    pub fn ingest_copied_rows(&mut self, rows: u64) -> anyhow::Result<()> {
        let found = self.last()?.json()?["counts"]["metadata_rows_copied"].clone();
        ensure!(
            found == json!(rows),
            "expected {rows} rows copied, got {}",
            show(&found)
        );
        Ok(())
    }

    pub fn record_ids_have_form(&mut self, form: &str) -> anyhow::Result<()> {
        ensure!(form == "{run_id}/{kind}/{seq}", "unknown id form {form:?}");
        let db = self.handoff()?.join("metadata.db");
        for (id, payload) in rows_of(&db)? {
            let payload: Value = serde_json::from_str(payload.as_deref().unwrap_or("null"))?;
            let parts: Vec<&str> = id.split('/').collect();
            let well_formed = parts.len() == 3
                && Some(parts[0]) == payload["run_id"].as_str()
                && Some(parts[1]) == payload["record_type"].as_str()
                && !parts[2].is_empty()
                && parts[2].bytes().all(|b| b.is_ascii_digit());
            ensure!(
                well_formed,
                "record id {id:?} is not run_id/record_type/seq of its payload"
            );
        }
        Ok(())
    }
}
