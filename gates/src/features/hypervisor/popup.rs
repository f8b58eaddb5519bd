//! The popup's steps: the real `autocapture serve` on a free loopback port over a DataRoot the
//! real ingest filled, the [`Relay`] in front of it (with sentinels on every other address of
//! the machine), the adapter's `popup_request` pointed at the relay, and what reached the relay
//! judged: one `POST /api/query/popup` with the server's bearer token and the question, answered
//! 200 and printed; no connection anywhere but 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, ensure};
use autocapture_core::server::{DEFAULT_BIND, TOKEN_FILE};
use serde_json::Value;

use super::relay::{Relay, Seen};
use super::world::{HypervisorWorld, fail, require};
use crate::conform::adapter::Verb;
use crate::corpus::copies::copy_tree;
use crate::probe::http::Client;
use crate::probe::server::ProcessServer;

/// What the popup is asked.
pub const QUESTION: &str = "which window had focus at 10:00";

impl HypervisorWorld {
    /// The server over a private copy of the ingested DataRoot, and the relay before it.
    fn start_server(&mut self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let data = self.dir()?.join("data");
        copy_tree(&settings.popup_data()?, &data)?;
        let server = ProcessServer::start(&settings.autocapture_bin, &data)?;
        self.relay = Some(Relay::start(server.addr)?);
        self.server = Some(server);
        Ok(())
    }

    fn server_token(&self) -> anyhow::Result<String> {
        Ok(self
            .server
            .as_ref()
            .context("no server is running")?
            .token
            .clone())
    }

    pub fn server_on_default_bind(&mut self) -> anyhow::Result<()> {
        ensure!(
            DEFAULT_BIND == "127.0.0.1:8787",
            "the server's default bind is {DEFAULT_BIND}"
        );
        self.start_server()
    }

    pub fn server_with_token_route(&mut self) -> anyhow::Result<()> {
        self.start_server()?;
        let server = self.server.as_ref().context("no server is running")?;
        let reply = Client::to(server.addr).get("/api/auth/token")?;
        let token = reply
            .json()
            .and_then(|j| j["token"].as_str().map(str::to_owned));
        ensure!(
            reply.status == 200 && token.as_deref() == Some(server.token.as_str()),
            "the server's /api/auth/token answered {} {}",
            reply.status,
            reply.body
        );
        Ok(())
    }

    pub fn popup_asks(&mut self) -> anyhow::Result<()> {
        let settings = self.settings()?;
        let url = self.relay.as_ref().context("no relay is running")?.url();
        self.question = QUESTION.to_owned();
        let token_file = self.dir()?.join("data").join(TOKEN_FILE);
        let mut vars = self.common_vars()?;
        vars.extend([
            ("url", url),
            ("question", self.question.clone()),
            ("token_file", token_file.display().to_string()),
        ]);
        // Judged by the steps that follow: what reached the relay says more than an exit code.
        self.outcome = Some(
            settings
                .adapter
                .run(Verb::PopupRequest, &vars, &self.env())?,
        );
        Ok(())
    }

    fn seen(&self) -> anyhow::Result<Vec<Seen>> {
        Ok(self.relay.as_ref().context("no relay is running")?.seen())
    }

    /// Every connection went to 127.0.0.1, and one did (what the request carried is the popup
    /// scenario's to judge).
    pub fn connects_to_loopback_only(&mut self) -> anyhow::Result<()> {
        self.no_stray_connection()?;
        let outcome = self.outcome.clone().context("the popup has not run")?;
        require(!self.seen()?.is_empty(), "popup_not_connected", || {
            format!("nothing reached 127.0.0.1; {}", outcome.describe())
        })
    }

    /// No sentinel was reached.
    fn no_stray_connection(&self) -> anyhow::Result<()> {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        match self.seen()?.iter().find(|s| s.local.ip() != loopback) {
            Some(stray) => Err(fail(
                "popup_off_loopback",
                format!(
                    "the popup connected to {} (from {}): not 127.0.0.1",
                    stray.local, stray.peer
                ),
            )),
            None => Ok(()),
        }
    }

    pub fn posts_with_bearer(&mut self, header: &str) -> anyhow::Result<()> {
        ensure!(
            header == "Authorization: Bearer <token>",
            "unknown header form {header:?}"
        );
        // A request that went elsewhere carries a token to the wrong place.
        self.no_stray_connection()?;
        let token = self.server_token()?;
        let seen = self.seen()?;
        let posted = seen
            .iter()
            .filter_map(|s| s.request.as_ref().map(|r| (s, r)))
            .find(|(_, r)| r.method == "POST" && r.path == "/api/query/popup");
        let Some((entry, request)) = posted else {
            let asked: Vec<String> = seen
                .iter()
                .filter_map(|s| s.request.as_ref())
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            return Err(fail(
                "popup_not_posted",
                format!("no POST /api/query/popup reached the server; requests: {asked:?}"),
            ));
        };
        match request.header("authorization") {
            None => {
                return Err(fail(
                    "popup_token_missing",
                    "the POST /api/query/popup carried no Authorization header",
                ));
            }
            Some(value) if value != format!("Bearer {token}") => {
                return Err(fail(
                    "popup_token_wrong",
                    format!("Authorization is {value:?}, not Bearer and the server's token"),
                ));
            }
            Some(_) => {}
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        require(
            body["query"].as_str() == Some(self.question.as_str()),
            "popup_body_invalid",
            || {
                format!(
                    "the body {} does not carry the question as \"query\"",
                    String::from_utf8_lossy(&request.body)
                )
            },
        )?;
        let outcome = self.outcome.clone().context("the popup has not run")?;
        require(
            entry.status == Some(200) && outcome.succeeded(),
            "popup_request_failed",
            || {
                format!(
                    "the server answered {:?}; {}",
                    entry.status,
                    outcome.describe()
                )
            },
        )?;
        require(
            outcome.stdout.contains("\"state\""),
            "popup_answer_not_printed",
            || format!("the popup printed no answer: {:?}", outcome.stdout),
        )
    }
}
