//! Steps on the contract identity.

use super::*;

impl ContractWorld {
    pub fn sister_document(&mut self, path: &str) -> anyhow::Result<()> {
        let file = self.settings()?.workspace.join(path);
        self.sister = Some(serde_json::from_str(
            &std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?,
        )?);
        Ok(())
    }

    pub fn run_words(&mut self, command: &str) -> anyhow::Result<()> {
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        ensure!(
            words.first().map(String::as_str) == Some("autocapture"),
            "not an autocapture command: {command}"
        );
        self.autocapture(&words[1..])
    }

    pub fn identity_matches_sister(&mut self) -> anyhow::Result<()> {
        let sister = self.sister.clone().context("no sister document")?;
        let shown = self.last()?.json()?.clone();
        for key in ["contract_version", "schema_hash"] {
            ensure!(
                shown[key].is_string() && shown[key] == sister[key],
                "{key}: ours {}, the sister's {}",
                show(&shown[key]),
                show(&sister[key])
            );
        }
        Ok(())
    }
}
