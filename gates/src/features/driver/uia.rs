//! Steps on UIA.

use super::*;

impl ContractWorld {
    pub(super) fn first_snapshot(&mut self) -> anyhow::Result<(String, Value)> {
        if self.snapshot.is_none() {
            self.snapshot = Some(crate::corpus::copies::first_snapshot(&self.handoff()?)?);
        }
        self.snapshot.clone().context("no snapshot")
    }

    pub(super) fn write_fallback(&mut self, bytes: &[u8], sidecar: &str) -> anyhow::Result<()> {
        let dir = self.data()?.root.join("uia");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("latest.snap.json"), bytes)?;
        std::fs::write(dir.join("latest.snap.sha256"), sidecar)?;
        Ok(())
    }

    pub fn decoy_fallback(&mut self, title: &str) -> anyhow::Result<()> {
        let (_, mut decoy) = self.first_snapshot()?;
        decoy["window"]["title"] = json!(title);
        let bytes = serde_json::to_vec(&decoy)?;
        self.write_fallback(&bytes, &sha256_hex(&bytes))
    }

    pub fn delete_snapshot_row(&mut self) -> anyhow::Result<()> {
        let (id, _) = self.first_snapshot()?;
        let n = Connection::open(self.handoff()?.join("metadata.db"))?
            .execute("DELETE FROM metadata WHERE id = ?1", [&id])?;
        ensure!(n == 1, "snapshot row {id} not deleted");
        Ok(())
    }

    pub fn snapshot_row_record_type(&mut self, record_type: &str) -> anyhow::Result<()> {
        let (id, _) = self.first_snapshot()?;
        let n = Connection::open(self.handoff()?.join("metadata.db"))?.execute(
            "UPDATE metadata SET payload = json_set(payload, '$.record_type', ?1) WHERE id = ?2",
            [record_type, &id],
        )?;
        ensure!(n == 1, "snapshot row {id} not updated");
        Ok(())
    }

    pub fn deleted_snapshot_as_fallback(&mut self, matching: bool) -> anyhow::Result<()> {
        let (_, snapshot) = self.first_snapshot()?;
        let bytes = serde_json::to_vec(&snapshot)?;
        let sidecar = if matching {
            sha256_hex(&bytes)
        } else {
            sha256_hex(b"other bytes")
        };
        self.write_fallback(&bytes, &sidecar)
    }

    pub(super) fn first_focus_doc(&mut self) -> anyhow::Result<Option<Value>> {
        let (id, _) = self.first_snapshot()?;
        let data = self.data()?;
        derived_payload(&data, &doc_id(&id, Section::Focus))
    }

    pub fn focus_doc_has_metadata_title(&mut self) -> anyhow::Result<()> {
        let (id, snapshot) = self.first_snapshot()?;
        let doc = self
            .first_focus_doc()?
            .with_context(|| format!("no focus doc for snapshot {id}"))?;
        ensure!(
            doc["window_title"] == snapshot["window"]["title"] && doc["window_title"].is_string(),
            "focus doc title {} instead of the snapshot's {}",
            show(&doc["window_title"]),
            show(&snapshot["window"]["title"])
        );
        Ok(())
    }

    pub fn no_focus_doc(&mut self) -> anyhow::Result<()> {
        if let Some(doc) = self.first_focus_doc()? {
            bail!(
                "the first frame has a focus doc titled {}",
                show(&doc["window_title"])
            );
        }
        Ok(())
    }

    pub fn uia_problem(&mut self, code: &str) -> anyhow::Result<()> {
        let problems = self.last()?.json()?["uia_problems"].clone();
        ensure!(
            problems[code].as_u64().unwrap_or(0) > 0,
            "uia_problems {} has no {code:?}",
            show(&problems)
        );
        Ok(())
    }

    /// Every frame with a `uia_ref` of the DataRoot and its three docs.
    pub(super) fn frames_and_docs(&mut self) -> anyhow::Result<Vec<FrameDocs>> {
        let data = self.data()?;
        let conn =
            Connection::open_with_flags(data.metadata_db(), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut stmt = conn.prepare(
            "SELECT payload FROM metadata WHERE record_type = 'evidence.capture.frame' ORDER BY id",
        )?;
        let frames = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for text in frames {
            let frame: Value = serde_json::from_str(&text)?;
            let Some(uia_id) = frame["uia_ref"]["record_id"].as_str().map(str::to_owned) else {
                continue;
            };
            let mut docs = Vec::new();
            for section in [Section::Focus, Section::Context, Section::Operable] {
                let id = doc_id(&uia_id, section);
                let doc = derived_payload(&data, &id)?
                    .with_context(|| format!("frame with uia_ref {uia_id}: no doc {id}"))?;
                docs.push((section, id, doc));
            }
            out.push((frame, docs));
        }
        ensure!(!out.is_empty(), "no frame with a uia_ref");
        Ok(out)
    }

    pub fn every_frame_has_docs(&mut self) -> anyhow::Result<()> {
        self.frames_and_docs().map(|_| ())
    }

    pub fn doc_ids_follow_recipe(&mut self) -> anyhow::Result<()> {
        use base64::Engine;
        for (_, docs) in self.frames_and_docs()? {
            for (section, id, doc) in docs {
                let uia_id = doc["uia_record_id"].as_str().unwrap_or_default();
                let run = uia_id.split_once('/').map_or("run", |(run, _)| run);
                let seed = format!("uia-{uia_id}-{}-0", section.name());
                let expected = format!(
                    "{run}/derived.sst.text/extra/rid_{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed.as_bytes())
                );
                ensure!(id == expected, "doc id {id} is not the recipe's {expected}");
            }
        }
        Ok(())
    }

    pub fn docs_link_to_uia_ref(&mut self) -> anyhow::Result<()> {
        for (frame, docs) in self.frames_and_docs()? {
            for (_, id, doc) in docs {
                ensure!(
                    doc["uia_record_id"] == frame["uia_ref"]["record_id"]
                        && doc["uia_content_hash"] == frame["uia_ref"]["content_hash"],
                    "doc {id} links to {} / {}, its frame's uia_ref is {}",
                    show(&doc["uia_record_id"]),
                    show(&doc["uia_content_hash"]),
                    show(&frame["uia_ref"])
                );
            }
        }
        Ok(())
    }

    pub fn docs_validate(&mut self, schema: &str) -> anyhow::Result<()> {
        let set = ContractSet::load(&self.settings()?.workspace.join("contracts"))?;
        for (_, docs) in self.frames_and_docs()? {
            for (_, id, doc) in docs {
                let errors = set.validate(schema, &doc)?;
                ensure!(errors.is_empty(), "doc {id}: {errors:?}");
            }
        }
        Ok(())
    }

    pub fn bboxes_inside_frames(&mut self) -> anyhow::Result<()> {
        for (frame, docs) in self.frames_and_docs()? {
            let (w, h) = autocapture_core::uia::frame_dims(&frame).context("frame without dims")?;
            for (_, id, doc) in docs {
                for node in doc["meta"]["uia_nodes"].as_array().into_iter().flatten() {
                    let b: Vec<u64> = node["bbox"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    ensure!(
                        b.len() == 4 && b[2] >= b[0] && b[3] >= b[1] && b[2] <= w && b[3] <= h,
                        "doc {id}: bbox {} is not ordered inside {w}x{h}",
                        show(&node["bbox"])
                    );
                }
            }
        }
        Ok(())
    }

    pub fn focus_doc_id_vector(&mut self, uia_id: &str, expected: &str) -> anyhow::Result<()> {
        let found = doc_id(uia_id, Section::Focus);
        ensure!(
            found == expected,
            "focus doc id {found} instead of {expected}"
        );
        Ok(())
    }
}
