//! Steps on handoffs and ingest.

use super::*;

impl ContractWorld {
    pub fn generated_handoff(&mut self, layout: &str) -> anyhow::Result<()> {
        self.handoff = Some(self.copy_handoff(layout, "handoff")?);
        Ok(())
    }

    pub fn data_root_holds_another_handoff(&mut self) -> anyhow::Result<()> {
        let other = self.copy_handoff("legacy", "other-handoff")?;
        let data = self.data()?;
        ingest_handoff(&other, &data, &IngestOptions::default(), &SystemClock)?;
        Ok(())
    }

    pub fn a_spool(&mut self) -> anyhow::Result<()> {
        let spool = self.dir()?.join("spool");
        for handoff in self.settings()?.handoffs()? {
            copy_tree(
                &handoff,
                &spool.join(handoff.file_name().context("a handoff without a name")?),
            )?;
        }
        self.spool = Some(spool);
        Ok(())
    }

    pub(super) fn spool_handoffs(&self) -> anyhow::Result<Vec<PathBuf>> {
        Ok(autocapture_core::stage1::drain::list_handoffs(
            self.spool.as_ref().context("the scenario has no spool")?,
        )?)
    }

    pub fn ingested_handoff(&mut self) -> anyhow::Result<()> {
        self.generated_handoff("canonical")?;
        let (handoff, data) = (self.handoff()?, self.data()?);
        ingest_handoff(&handoff, &data, &IngestOptions::default(), &SystemClock)?;
        Ok(())
    }

    pub fn indexed_data_root(&mut self) -> anyhow::Result<()> {
        let template = self.settings()?.indexed()?;
        let data = self.data()?;
        copy_tree(&template, &data.root)?;
        Ok(())
    }

    pub fn missing_data_dir(&mut self) -> anyhow::Result<()> {
        self.data = Some(DataRoot::new(self.dir()?.join("no-such-data-dir")));
        Ok(())
    }

    pub(super) fn ingest_path(&mut self, handoff: &Path) -> anyhow::Result<()> {
        self.remember_data_root()?;
        let data = self.data()?;
        self.autocapture(&super::ingest_args(handoff, &data.root))
    }

    pub fn ingest(&mut self) -> anyhow::Result<()> {
        let handoff = self.handoff()?;
        self.ingest_path(&handoff)
    }

    pub fn ingest_second(&mut self) -> anyhow::Result<()> {
        let handoff = self
            .second_handoff
            .clone()
            .context("the scenario has no second handoff")?;
        self.ingest_path(&handoff)
    }

    pub fn ingest_every_handoff(&mut self) -> anyhow::Result<()> {
        for handoff in self.spool_handoffs()? {
            self.ingest_path(&handoff)?;
            self.command_succeeds()?;
        }
        Ok(())
    }

    pub fn handoff_has_been_ingested(&mut self) -> anyhow::Result<()> {
        self.ingest()?;
        self.command_succeeds()?;
        self.first_marker = Some(self.marker_json(&self.handoff()?)?);
        self.last = None;
        Ok(())
    }

    pub fn remove_metadata_db(&mut self) -> anyhow::Result<()> {
        std::fs::remove_file(self.handoff()?.join("metadata.db"))?;
        Ok(())
    }

    pub fn second_handoff_without_metadata(&mut self) -> anyhow::Result<()> {
        let second = self.copy_handoff("legacy", "second-handoff")?;
        std::fs::remove_file(second.join("metadata.db"))?;
        self.second_handoff = Some(second);
        Ok(())
    }

    pub fn metadata_db_is_text(&mut self) -> anyhow::Result<()> {
        std::fs::write(
            self.handoff()?.join("metadata.db"),
            b"this is not a database, just text",
        )?;
        Ok(())
    }

    pub fn metadata_db_has_neither_table(&mut self) -> anyhow::Result<()> {
        let db = self.handoff()?.join("metadata.db");
        std::fs::remove_file(&db)?;
        Connection::open(&db)?.execute_batch("CREATE TABLE events (x TEXT)")?;
        Ok(())
    }

    /// The first frame (by id) of the handoff: its table, id column, payload column, id, payload.
    pub(super) fn first_frame(&self) -> anyhow::Result<(String, Value)> {
        let db = self.handoff()?.join("metadata.db");
        let (_, table, id, payload) = layout_of(&db)?;
        let conn = Connection::open(&db)?;
        let (frame_id, text): (String, String) = conn.query_row(
            &format!("SELECT {id}, {payload} FROM {table} WHERE record_type = 'evidence.capture.frame' ORDER BY {id} LIMIT 1"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((frame_id, serde_json::from_str(&text)?))
    }

    pub(super) fn set_first_frame_payload(&self, frame: &Value) -> anyhow::Result<()> {
        let db = self.handoff()?.join("metadata.db");
        let (_, table, id, payload) = layout_of(&db)?;
        let (frame_id, _) = self.first_frame()?;
        let changed = Connection::open(&db)?.execute(
            &format!("UPDATE {table} SET {payload} = ?1 WHERE {id} = ?2"),
            [serde_json::to_string(frame)?, frame_id],
        )?;
        ensure!(changed == 1, "the first frame was not updated");
        Ok(())
    }

    pub fn set_first_frame_blob_path(&mut self, blob_path: &str) -> anyhow::Result<()> {
        let (_, mut frame) = self.first_frame()?;
        frame["blob_path"] = json!(blob_path);
        self.set_first_frame_payload(&frame)
    }

    pub(super) fn first_frame_blob(&self) -> anyhow::Result<PathBuf> {
        let (_, frame) = self.first_frame()?;
        let blob = frame["blob_path"]
            .as_str()
            .context("the first frame has no blob_path")?
            .replace('\\', "/");
        let rel = blob
            .split_once("media/")
            .map(|(_, rest)| rest.to_owned())
            .context("the blob_path has no media/ part")?;
        Ok(self.handoff()?.join("media").join(rel))
    }

    pub fn plant_symlink(&mut self, target: &str) -> anyhow::Result<()> {
        std::os::unix::fs::symlink(target, self.handoff()?.join("media").join("planted.blob"))?;
        Ok(())
    }

    pub fn remove_first_blob(&mut self) -> anyhow::Result<()> {
        std::fs::remove_file(self.first_frame_blob()?)?;
        Ok(())
    }

    pub fn flip_first_blob_byte(&mut self) -> anyhow::Result<()> {
        let blob = self.first_frame_blob()?;
        let mut bytes = std::fs::read(&blob)?;
        let middle = bytes.len() / 2;
        let byte = bytes.get_mut(middle).context("the blob is empty")?;
        *byte ^= 0xff;
        // Replace rather than write in place: the blob may be hard-linked elsewhere.
        std::fs::remove_file(&blob)?;
        std::fs::write(&blob, bytes)?;
        Ok(())
    }

    pub fn hold_instance_lock(&mut self) -> anyhow::Result<()> {
        let data = self.data()?;
        data.create_dirs()?;
        self.lock = Some(lock_data_root(&data)?);
        Ok(())
    }
}
