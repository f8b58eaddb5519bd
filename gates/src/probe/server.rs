//! A real popup server on an ephemeral loopback port, for the gates, scenarios and tests that talk
//! to one: [`LoopbackServer`], the core's `BoundServer` inside this process (on its own thread
//! and runtime, so plain and async code alike can start and stop it), and [`ProcessServer`], the
//! real `autocapture serve` program.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use autocapture_core::base::clock::SystemClock;
use autocapture_core::server::{BoundServer, Limits, TOKEN_FILE};
use autocapture_core::store::DataRoot;

use super::http::Client;

/// The bearer token a server wrote into the DataRoot at `root`.
fn read_token(root: &Path) -> anyhow::Result<String> {
    let path = root.join(TOKEN_FILE);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("read {}", path.display()))?
        .split_whitespace()
        .next()
        .context("the token file is empty")?
        .to_owned())
}

/// How long the server may take to bind.
const START_WAIT: Duration = Duration::from_secs(30);

/// A running server, stopped by [`LoopbackServer::stop`] or when dropped.
#[derive(Debug)]
pub struct LoopbackServer {
    pub addr: SocketAddr,
    /// The bearer token the server wrote into the DataRoot.
    pub token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl LoopbackServer {
    /// Serves `data` on `127.0.0.1:0` with the popup timeout `timeout` and the default limits.
    pub fn start(data: &DataRoot, timeout: Duration) -> anyhow::Result<LoopbackServer> {
        LoopbackServer::start_with(data, timeout, Limits::default())
    }

    /// The same with connection `limits` of the caller's choosing.
    pub fn start_with(
        data: &DataRoot,
        timeout: Duration,
        limits: Limits,
    ) -> anyhow::Result<LoopbackServer> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let data_root = data.clone();
        let thread = std::thread::spawn(move || -> Result<(), String> {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("runtime: {e}")));
                    return Ok(());
                }
            };
            runtime.block_on(async move {
                let server =
                    match BoundServer::bind(&data_root, "127.0.0.1:0", timeout, &SystemClock).await
                    {
                        Ok(server) => server.with_limits(limits),
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("bind [{}]: {e}", e.code())));
                            return Ok(());
                        }
                    };
                let _ = ready_tx.send(Ok(server.addr));
                server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(|e| format!("[{}] {e}", e.code()))
            })
        });
        let addr = ready_rx
            .recv_timeout(START_WAIT)
            .context("the popup server did not start")?
            .map_err(anyhow::Error::msg)?;
        let mut server = LoopbackServer {
            addr,
            token: String::new(),
            stop: Some(stop),
            thread: Some(thread),
        };
        server.token = read_token(&data.root)?;
        Ok(server)
    }

    /// A client of this server carrying its token.
    pub fn client(&self) -> Client {
        Client::to(self.addr).token(Some(&self.token))
    }

    /// Stops the server and waits for it; its error, if it ended with one.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("the popup server's thread panicked"))?
                .map_err(|e| anyhow::anyhow!("the popup server ended with {e}")),
            None => Ok(()),
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// `autocapture serve` on an ephemeral loopback port; stopped (SIGINT, then killed) on drop.
pub struct ProcessServer {
    child: Child,
    pub addr: SocketAddr,
    pub token: String,
}

impl ProcessServer {
    /// Starts the real server on `data` and reads its address and token.
    pub fn start(bin: &Path, data: &Path) -> anyhow::Result<ProcessServer> {
        ProcessServer::start_with_env(bin, data, &[])
    }

    /// [`ProcessServer::start`] with more environment (a planted bug in `autocapture-crashpoints`).
    pub fn start_with_env(
        bin: &Path,
        data: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<ProcessServer> {
        let mut child = Command::new(bin)
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--bind", "127.0.0.1:0"])
            .env("TZ", "UTC")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {} serve", bin.display()))?;
        let stderr = child.stderr.take().context("serve stderr")?;
        let mut line = String::new();
        BufReader::new(stderr).read_line(&mut line)?;
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("autocapture serve did not start: {line}");
        };
        let token = read_token(data)?;
        Ok(ProcessServer { child, addr, token })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server with SIGINT and returns whether it exited cleanly (not by a signal).
    pub fn stop(mut self) -> anyhow::Result<bool> {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT)?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.signal().is_none());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(false)
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_answers_with_its_token_and_is_gone_after_stop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataRoot::new(dir.path());
        let server = LoopbackServer::start(&data, Duration::from_secs(2)).expect("starts");
        assert!(server.addr.ip().is_loopback());
        assert_eq!(server.token.len(), 64, "{}", server.token);
        let status = server.client().get("/api/auth/status").expect("answer");
        assert_eq!(status.json().expect("json")["authenticated"], true);
        let addr = server.addr;
        server.stop().expect("stops cleanly");
        assert!(Client::to(addr).get("/health").is_err(), "still listening");
    }
}
