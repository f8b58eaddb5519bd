//! Steps on the drain and the activity signal.

use super::*;

impl ContractWorld {
    pub fn drain(&mut self, extra: &str) -> anyhow::Result<()> {
        self.refresh_signal()?;
        let spool = self.spool.clone().context("the scenario has no spool")?;
        let data = self.data()?;
        let mut args: Vec<String> = vec![
            "handoff".into(),
            "drain".into(),
            "--spool-root".into(),
            spool.display().to_string(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ];
        if let Some(signal) = &self.signal {
            args.extend(["--activity-signal".into(), signal.display().to_string()]);
        }
        args.extend(extra.split_whitespace().map(str::to_owned));
        self.autocapture(&args)
    }

    pub fn spool_drained(&mut self) -> anyhow::Result<()> {
        self.drain("")?;
        self.command_succeeds()?;
        self.last = None;
        Ok(())
    }

    pub(super) fn drain_statuses(&self) -> anyhow::Result<Vec<(String, Value)>> {
        let json = self.last()?.json()?;
        Ok(json["handoffs"]
            .as_array()
            .context("the drain report lists no handoffs")?
            .iter()
            .map(|h| {
                (
                    h["name"].as_str().unwrap_or_default().to_owned(),
                    h["status"].clone(),
                )
            })
            .collect())
    }

    pub fn every_handoff_reported(&mut self, status: &str) -> anyhow::Result<()> {
        let statuses = self.drain_statuses()?;
        ensure!(
            statuses.len() == self.spool_handoffs()?.len(),
            "the drain reported {} handoffs",
            statuses.len()
        );
        for (name, found) in statuses {
            ensure!(
                found == json!(status),
                "handoff {name}: {} instead of {status:?}",
                show(&found)
            );
        }
        Ok(())
    }

    pub fn first_handoff_reported(&mut self, status: &str) -> anyhow::Result<()> {
        let (name, found) = self
            .drain_statuses()?
            .into_iter()
            .next()
            .context("the drain reported no handoff")?;
        ensure!(
            found == json!(status),
            "handoff {name}: {} instead of {status:?}",
            show(&found)
        );
        Ok(())
    }

    pub fn drain_state(&mut self, state: &str) -> anyhow::Result<()> {
        let found = self.last()?.json()?["state"].clone();
        ensure!(
            found == json!(state),
            "drain state {} instead of {state:?}; {}",
            show(&found),
            self.last()?.describe()
        );
        Ok(())
    }

    pub fn no_spool_marker(&mut self) -> anyhow::Result<()> {
        for handoff in self.spool_handoffs()? {
            ensure!(
                matches!(marker::read(&handoff), MarkerState::Missing),
                "{} has a marker",
                handoff.display()
            );
        }
        Ok(())
    }

    /// Writes the signal file from its spec, with times relative to now: called when the spec
    /// is set and again right before each command that reads it, so a slow step before the
    /// command cannot make a fresh signal stale.
    pub(super) fn refresh_signal(&mut self) -> anyhow::Result<()> {
        let Some(spec) = self.signal_spec.clone() else {
            return Ok(());
        };
        let now = time::OffsetDateTime::now_utc();
        let text = match spec {
            SignalSpec::Aged {
                age_seconds,
                active,
            } => {
                let ts = (now - time::Duration::seconds(age_seconds))
                    .format(&time::format_description::well_known::Rfc3339)?;
                let idle_seconds = if active { 0 } else { 600 };
                format!(
                    r#"{{"ts_utc": "{ts}", "idle_seconds": {idle_seconds}, "user_active": {active}, "source": "features", "seq": 1}}"#
                )
            }
            SignalSpec::Text(text) => text.replace(
                "NOW",
                &now.format(&time::format_description::well_known::Rfc3339)?,
            ),
        };
        let path = self.dir()?.join("activity_signal.json");
        std::fs::write(&path, text)?;
        self.signal = Some(path);
        Ok(())
    }

    pub fn signal(&mut self, age_seconds: i64, active: bool) -> anyhow::Result<()> {
        self.signal_spec = Some(SignalSpec::Aged {
            age_seconds,
            active,
        });
        self.refresh_signal()
    }

    /// The signal is `text`, with `NOW` standing for the current time.
    pub fn signal_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.signal_spec = Some(SignalSpec::Text(unescape(text)));
        self.refresh_signal()
    }

    pub fn no_signal(&mut self) -> anyhow::Result<()> {
        self.signal = None;
        self.signal_spec = None;
        let data = self.data()?;
        for path in [
            data.root.join("activity").join("activity_signal.json"),
            data.root.join("activity_signal.json"),
        ] {
            ensure!(!path.exists(), "{} exists", path.display());
        }
        Ok(())
    }

    pub fn stage2(&mut self) -> anyhow::Result<()> {
        self.refresh_signal()?;
        let data = self.data()?;
        let mut args: Vec<String> = vec![
            "stage2".into(),
            "run".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
            "--json".into(),
        ];
        if let Some(signal) = &self.signal {
            args.extend(["--activity-signal".into(), signal.display().to_string()]);
        }
        self.autocapture(&args)
    }

    pub fn stage2_state(&mut self, state: &str, reason: &str) -> anyhow::Result<()> {
        let json = self.last()?.json()?;
        ensure!(
            json["state"] == json!(state) && json["activity"]["reason"] == json!(reason),
            "expected state {state:?} for {reason:?}, got {} for {}",
            show(&json["state"]),
            show(&json["activity"]["reason"])
        );
        Ok(())
    }

    pub fn stage2_processed_some(&mut self) -> anyhow::Result<()> {
        let n = self.last()?.json()?["frames_processed"]
            .as_u64()
            .unwrap_or(0);
        ensure!(n > 0, "Stage 2 processed no frame");
        Ok(())
    }

    pub fn stage2_processed_none(&mut self) -> anyhow::Result<()> {
        let found = self.last()?.json()?["frames_processed"].clone();
        ensure!(
            found == json!(0),
            "Stage 2 processed {} frames",
            show(&found)
        );
        Ok(())
    }
}
