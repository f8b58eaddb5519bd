//! Steps on binding.

use super::*;

impl ContractWorld {
    pub fn default_bind_is(&mut self, bind: &str) -> anyhow::Result<()> {
        ensure!(DEFAULT_BIND == bind, "the default bind is {DEFAULT_BIND}");
        Ok(())
    }

    pub fn default_bind_loopback(&mut self) -> anyhow::Result<()> {
        let addr = check_bind(DEFAULT_BIND)?;
        ensure!(addr.ip().is_loopback(), "{addr} is not loopback");
        Ok(())
    }

    pub fn server_on_loopback(&mut self) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        ensure!(addr.ip().is_loopback(), "the server listens on {addr}");
        let health = http(addr, "GET", "/health", None, "")?;
        ensure!(health.status == 200, "GET /health: {}", health.status);
        Ok(())
    }

    pub fn serve(&mut self, bind: Option<&str>) -> anyhow::Result<()> {
        let data = self.data()?;
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data-dir".into(),
            data.root.display().to_string(),
        ];
        if let Some(bind) = bind {
            args.extend(["--bind".into(), bind.into()]);
        }
        if let Some(config) = &self.config {
            args.extend(["--config".into(), config.display().to_string()]);
        }
        self.autocapture(&args)
    }

    pub fn config_file(&mut self, text: &str) -> anyhow::Result<()> {
        let path = self.dir()?.join("config.json");
        std::fs::write(&path, unescape(text))?;
        self.config = Some(path);
        Ok(())
    }
}
