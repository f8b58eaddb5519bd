//! Steps on the query.

use super::*;

impl ContractWorld {
    pub fn open_handle(&mut self) -> anyhow::Result<()> {
        self.remember_data_root()?;
        let data = self.data()?;
        self.handle = Some(QueryHandle::open(&data)?);
        Ok(())
    }

    pub fn write_through_handle_fails(&mut self, sql: &str) -> anyhow::Result<()> {
        let handle = self.handle.as_ref().context("no query handle")?;
        if let Ok(n) = handle.try_execute(sql) {
            bail!("{sql:?} through the query handle succeeded ({n} rows)");
        }
        Ok(())
    }

    pub fn ask(&mut self, question: &str) -> anyhow::Result<()> {
        if self.handle.is_none() {
            self.open_handle()?;
        }
        let handle = self.handle.as_ref().context("no query handle")?;
        query::answer(handle, question, &QueryOptions::default())
            .with_context(|| format!("answer {question:?}"))?;
        Ok(())
    }

    pub fn counters_zero(&mut self) -> anyhow::Result<()> {
        let handle = self.handle.as_ref().context("no query handle")?;
        let values = handle.counters.values();
        ensure!(
            values.query_extractor_launch_total == 0
                && values.query_schedule_extract_requests_total == 0
                && values.query_raw_media_reads_total == 0,
            "counters {values:?}"
        );
        Ok(())
    }

    pub fn ask_cli(&mut self, question: &str) -> anyhow::Result<()> {
        let data = self.data()?;
        self.autocapture(&[
            "query".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
            question.into(),
        ])
    }

    pub fn answer_state(&mut self, state: &str) -> anyhow::Result<()> {
        let found = self.last()?.json()?["state"].clone();
        ensure!(
            found == json!(state),
            "answer state {} instead of {state:?}; {}",
            show(&found),
            self.last()?.describe()
        );
        Ok(())
    }

    pub fn citations_name_records(&mut self) -> anyhow::Result<()> {
        let citations = self.last()?.json()?["citations"].clone();
        let list = citations.as_array().context("no citations list")?;
        ensure!(!list.is_empty(), "an ok answer without citations");
        for c in list {
            ensure!(
                c["record_id"].as_str().is_some_and(|s| !s.is_empty())
                    && c["record_type"].as_str().is_some_and(|s| !s.is_empty()),
                "citation {} names no record",
                show(c)
            );
        }
        Ok(())
    }

    pub fn answer_needs_processing(&mut self) -> anyhow::Result<()> {
        let json = self.last()?.json()?;
        ensure!(
            json["needs_processing"] == json!(true),
            "needs_processing {}",
            show(&json["needs_processing"])
        );
        Ok(())
    }
}
