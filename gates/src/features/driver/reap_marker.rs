//! Steps on the reap marker.

use super::*;

impl ContractWorld {
    pub(super) fn marker_json(&self, handoff: &Path) -> anyhow::Result<Value> {
        let path = handoff.join(marker::MARKER_FILE);
        Ok(serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("read {}", path.display()))?,
        )?)
    }

    pub fn no_marker(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        ensure!(
            matches!(marker::read(&handoff), MarkerState::Missing),
            "the handoff has a marker after a failed ingest"
        );
        Ok(())
    }

    pub fn valid_marker(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        Self::valid_marker_at(&handoff)
    }

    pub(super) fn valid_marker_at(handoff: &Path) -> anyhow::Result<()> {
        match marker::read(handoff) {
            MarkerState::Valid(m) => {
                ensure!(
                    m.schema == marker::MARKER_SCHEMA,
                    "marker schema {:?}",
                    m.schema
                );
                Ok(())
            }
            MarkerState::Missing => bail!("{} has no marker", handoff.display()),
            MarkerState::Invalid(why) => {
                bail!("{} has an invalid marker: {why}", handoff.display())
            }
        }
    }

    pub fn first_spool_handoff_valid_marker(&mut self) -> anyhow::Result<()> {
        let first = self
            .spool_handoffs()?
            .into_iter()
            .next()
            .context("empty spool")?;
        Self::valid_marker_at(&first)
    }

    pub fn marker_validates(&mut self, schema: &str) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        let set = ContractSet::load(&self.settings()?.workspace.join("contracts"))?;
        let errors = set.validate(schema, &marker)?;
        ensure!(
            errors.is_empty(),
            "the marker does not validate against {schema}: {errors:?}"
        );
        Ok(())
    }

    pub fn marker_paths_absolute(&mut self) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        for (key, expected) in [
            ("handoff_root", self.handoff()?),
            ("dest_data_root", self.data()?.root),
        ] {
            let path = PathBuf::from(marker[key].as_str().unwrap_or_default());
            ensure!(
                path.is_absolute(),
                "{key} {} is not absolute",
                path.display()
            );
            ensure!(
                std::fs::canonicalize(&path)? == std::fs::canonicalize(&expected)?,
                "{key} {} is not {}",
                path.display(),
                expected.display()
            );
        }
        Ok(())
    }

    pub fn marker_carries_contract_identity(&mut self, command: &str) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        self.run_words(&format!("{command} --json"))?;
        let shown = self.last()?.json()?.clone();
        for key in ["contract_version", "schema_hash"] {
            ensure!(
                marker[key].is_string() && marker[key] == shown[key],
                "marker {key} {} but `contract show` says {}",
                show(&marker[key]),
                show(&shown[key])
            );
        }
        Ok(())
    }

    pub fn no_temp_files(&mut self) -> anyhow::Result<()> {
        let mut found = temp_files(&self.handoff()?);
        found.extend(temp_files(&self.data()?.root));
        ensure!(found.is_empty(), "temporary files left: {found:?}");
        Ok(())
    }

    pub fn marker_counts_rows(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        let marker = self.marker_json(&handoff)?;
        let rows = rows_of(&handoff.join("metadata.db"))?.len() as u64;
        ensure!(
            marker["counts"]["metadata_rows_copied"] == json!(rows),
            "counts.metadata_rows_copied {} but the handoff has {rows} rows",
            show(&marker["counts"]["metadata_rows_copied"])
        );
        Ok(())
    }

    pub fn marker_digests_are_hex(&mut self) -> anyhow::Result<()> {
        let marker = self.marker_json(&self.handoff()?)?;
        for key in ["rows_sha256", "media_sha256"] {
            let value = marker["integrity"][key].as_str().unwrap_or_default();
            ensure!(
                value.len() == 64
                    && value
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "integrity.{key} {value:?} is not 64 lowercase hex digits"
            );
        }
        Ok(())
    }

    pub fn marker_run_id_form(&mut self, form: &str) -> anyhow::Result<()> {
        ensure!(
            form == "ingest_YYYYMMDDTHHMMSSffffffZ",
            "unknown run id form {form:?}"
        );
        let marker = self.marker_json(&self.handoff()?)?;
        let id = marker["ingest_run_id"].as_str().unwrap_or_default();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ok = id.len() == 29
            && id.starts_with("ingest_")
            && digits(&id[7..15])
            && &id[15..16] == "T"
            && digits(&id[16..28])
            && id.ends_with('Z');
        ensure!(ok, "ingest_run_id {id:?} is not of the form {form}");
        Ok(())
    }

    pub fn marker_digests_kept(&mut self) -> anyhow::Result<()> {
        let first = self
            .first_marker
            .clone()
            .context("no marker of a first ingest")?;
        let now = self.marker_json(&self.handoff()?)?;
        ensure!(
            first["integrity"] == now["integrity"] && !now["integrity"].is_null(),
            "integrity changed: first {}, now {}",
            show(&first["integrity"]),
            show(&now["integrity"])
        );
        Ok(())
    }

    pub fn replace_first_marker(&mut self, text: &str) -> anyhow::Result<()> {
        let first = self
            .spool_handoffs()?
            .into_iter()
            .next()
            .context("empty spool")?;
        std::fs::write(first.join(marker::MARKER_FILE), unescape(text))?;
        Ok(())
    }
}
