//! The `bind` gate: the popup server refuses every non-loopback bind before listening; on a real
//! loopback socket, no route deletes or writes (other methods get 405) and a missing or wrong
//! token gets 401.

use std::net::SocketAddr;
use std::time::Duration;

use autocapture_core::server::{POPUP_TIMEOUT, check_bind};
use serde_json::json;

use crate::harness::gate::{Gate, GateContext, GateOutcome};
use crate::probe::http::Client;
use crate::probe::server::LoopbackServer;

pub struct BindGate;

/// The status of `method path` with a popup body, with `token` when given.
fn status(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> anyhow::Result<u16> {
    let body = r#"{"query": "which window had focus at 10:00"}"#;
    Ok(Client::to(addr)
        .token(token)
        .timeout(Duration::from_secs(20))
        .send(method, path, body.as_bytes())?
        .status)
}

impl Gate for BindGate {
    fn name(&self) -> &'static str {
        "bind"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let mut outcome = GateOutcome::default();
        for bind in [
            "0.0.0.0:8787",
            "[::]:8787",
            "192.168.1.20:8787",
            "10.0.0.7:8787",
            "no-such-host.invalid:8787",
        ] {
            let code = check_bind(bind).err().map(|e| e.code());
            outcome.check_eq(
                &format!("bind refused: {bind}"),
                None,
                json!("bind_refused"),
                json!(code),
            );
        }
        let (_, handoffs) = crate::corpus::copies::private_spool(&ctx.corpus, &ctx.work)?;
        let data = autocapture_core::store::DataRoot::new(ctx.work.join("data"));
        let clock = autocapture_core::base::clock::SteppingClock::new(
            crate::corpus::build::BUILD_TIME,
            time::Duration::ZERO,
        );
        if let Some(first) = handoffs.first() {
            autocapture_core::stage1::ingest::ingest_handoff(
                first,
                &data,
                &autocapture_core::stage1::ingest::IngestOptions::default(),
                &clock,
            )?;
        }
        let server = LoopbackServer::start(&data, POPUP_TIMEOUT)?;
        let (addr, token) = (server.addr, server.token.clone());
        outcome.check(
            "listens on loopback",
            addr.ip().is_loopback(),
            format!("bound {addr}"),
        );
        let result = (|| -> anyhow::Result<()> {
            outcome.check_eq(
                "no token: 401",
                None,
                json!(401),
                json!(status(addr, "POST", "/api/query/popup", None)?),
            );
            outcome.check_eq(
                "wrong token: 401",
                None,
                json!(401),
                json!(status(
                    addr,
                    "POST",
                    "/api/query/popup",
                    Some(&"f".repeat(64))
                )?),
            );
            outcome.check_eq(
                "right token: 200",
                None,
                json!(200),
                json!(status(addr, "POST", "/api/query/popup", Some(&token))?),
            );
            for path in [
                "/api/query/popup",
                "/api/auth/token",
                "/api/auth/status",
                "/health",
            ] {
                for method in ["DELETE", "PUT"] {
                    outcome.check_eq(
                        &format!("{method} {path}: 405"),
                        None,
                        json!(405),
                        json!(status(addr, method, path, Some(&token))?),
                    );
                }
            }
            Ok(())
        })();
        server.stop()?;
        result?;
        Ok(outcome)
    }
}
