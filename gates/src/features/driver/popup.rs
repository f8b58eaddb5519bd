//! Steps on the popup server.

use super::*;

impl ContractWorld {
    pub fn popup_server(&mut self) -> anyhow::Result<()> {
        self.indexed_data_root()?;
        let data = self.data()?;
        let server = LoopbackServer::start(&data, POPUP_TIMEOUT)?;
        self.token = Some(server.token.clone());
        self.server = Some(server);
        self.before = None;
        self.remember_data_root()
    }

    pub(super) fn server_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.server.as_ref().context("no server is running")?.addr)
    }

    pub fn post_popup(&mut self, body: &str, token: Option<&str>) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        self.response = Some(http(
            addr,
            "POST",
            "/api/query/popup",
            token,
            &unescape(body),
        )?);
        Ok(())
    }

    pub fn post_popup_with_server_token(&mut self, body: &str) -> anyhow::Result<()> {
        let token = self.token.clone().context("no server token")?;
        self.post_popup(body, Some(&token))
    }

    pub fn get(&mut self, path: &str) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        let token = self.token.clone();
        self.response = Some(http(addr, "GET", path, token.as_deref(), "")?);
        Ok(())
    }

    pub fn status_is(&mut self, status: u16) -> anyhow::Result<()> {
        let response = self.response()?;
        ensure!(
            response.status == status,
            "status {} instead of {status}; body {}",
            response.status,
            show(&response.body)
        );
        Ok(())
    }

    pub fn response_has_fields(&mut self, fields: &str) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        let missing: Vec<String> = list_items(fields)
            .into_iter()
            .filter(|f| body.get(f).is_none())
            .collect();
        ensure!(
            missing.is_empty(),
            "fields {missing:?} missing from {}",
            show(body)
        );
        Ok(())
    }

    pub fn citations_have_fields(&mut self, fields: &str) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        let citations = body["citations"].as_array().context("no citations list")?;
        ensure!(
            !citations.is_empty(),
            "the answer has no citation: {}",
            show(body)
        );
        for c in citations {
            let missing: Vec<String> = list_items(fields)
                .into_iter()
                .filter(|f| c.get(f).is_none())
                .collect();
            ensure!(missing.is_empty(), "citation {} lacks {missing:?}", show(c));
        }
        Ok(())
    }

    pub fn citations_between(&mut self, above: usize, at_most: usize) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        let found = body["citations"].as_array().map_or(0, Vec::len);
        ensure!(
            found > above && found <= at_most,
            "{found} citations, expected more than {above} and at most {at_most}: {}",
            show(body)
        );
        Ok(())
    }

    pub fn needs_processing_false(&mut self) -> anyhow::Result<()> {
        let body = &self.response()?.body;
        ensure!(
            body["needs_processing"] == json!(false),
            "needs_processing {}",
            show(&body["needs_processing"])
        );
        Ok(())
    }

    pub fn response_token_is_servers(&mut self) -> anyhow::Result<()> {
        let token = self.token.clone().context("no server token")?;
        let found = self.response()?.body["token"].clone();
        ensure!(
            found == json!(token),
            "token {} is not the server's",
            show(&found)
        );
        Ok(())
    }

    pub fn no_route_deletes(&mut self, paths: &str) -> anyhow::Result<()> {
        let addr = self.server_addr()?;
        let token = self.token.clone();
        for path in list_items(paths) {
            for method in ["DELETE", "PUT"] {
                let status = http(addr, method, &path, token.as_deref(), "{}")?.status;
                ensure!(status == 405, "{method} {path}: {status} instead of 405");
            }
        }
        Ok(())
    }
}
