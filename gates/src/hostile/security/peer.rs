//! The token route keeps the token to its user, on the real server over a loopback socket: a
//! process of another user asking for it gets 403 `token_peer_foreign` and leaves an audit
//! line, while the server's own user gets it; `autocapture-crashpoints` (the armed binary) with `token_any_peer`
//! planted hands the token to anyone, and the same check must catch it. Acting as another user
//! needs root: without it both cases fail, saying so.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use super::*;

/// The uid and gid the foreign client runs as (`nobody`).
const FOREIGN: u32 = 65534;

/// A GET of the token route by the harness's hidden `fetch`, as `uid` when given: the status
/// and the body.
fn fetch(client: &Path, addr: SocketAddr, uid: Option<u32>) -> anyhow::Result<(u16, String)> {
    let mut command = Command::new(client);
    command
        .arg("fetch")
        .arg(addr.to_string())
        .arg("/api/auth/token");
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    let output = command.output().context("run the fetch client")?;
    anyhow::ensure!(
        output.status.success(),
        "the fetch client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok((
        reply["status"].as_u64().unwrap_or_default() as u16,
        reply["body"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// The harness binary copied where another user may run it (a fresh 0755 folder), and the
/// temporary folder that holds it when the work folder is closed to others (removed when the
/// guard is dropped; a random name, made by this process).
fn runnable_copy(
    harness: &Path,
    work: &Path,
) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    let dir = work.join("foreign-client");
    std::fs::create_dir_all(&dir)?;
    let mut path = dir.clone();
    while path.pop() {
        if path.as_os_str().is_empty() {
            break;
        }
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o001 == 0 {
            // A folder on the way that others cannot enter: a fresh folder in the system's
            // temp folder.
            let temp = tempfile::Builder::new()
                .prefix("autocapture-foreign-")
                .tempdir()?;
            let copy = runnable_copy_in(harness, temp.path())?;
            return Ok((copy, Some(temp)));
        }
    }
    Ok((runnable_copy_in(harness, &dir)?, None))
}

fn runnable_copy_in(harness: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let copy = dir.join("autocapture-gates");
    std::fs::copy(harness, &copy)?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
    Ok(copy)
}

pub(super) fn foreign_uid_cases(
    bin: &Path,
    planted_bin: &Path,
    harness: &Path,
    data: &Path,
    work: &Path,
) -> anyhow::Result<Vec<CaseReport>> {
    let expected = "403 token_peer_foreign, audited; 200 to its own user";
    let mut report = case("the token route refuses another user's process", expected);
    let mut planted = case(
        "planted: a server that gives the token to any peer is caught",
        "found",
    );
    if !nix::unistd::geteuid().is_root() {
        for r in [&mut report, &mut planted] {
            r.observed = "not run: acting as another user needs root".into();
        }
        return Ok(vec![report, planted]);
    }
    let (client, _temp) = runnable_copy(harness, work)?;
    let audit = data.join("audit.ndjson");
    let refusals = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .matches("\"server.token_refused\"")
            .count()
    };
    let before = refusals();
    let served = ProcessServer::start(bin, data)?;
    let (status, body) = fetch(&client, served.addr, Some(FOREIGN))?;
    let (own, _) = fetch(&client, served.addr, None)?;
    let clean = served.stop()?;
    let audited = refusals() > before;
    let refused =
        status == 403 && body.contains("token_peer_foreign") && !body.contains("\"token\"");
    report.observed = if refused && audited && own == 200 {
        expected.to_owned()
    } else {
        format!("{status} to another user (audited: {audited}); {own} to its own user")
    };
    report.detail = body.chars().take(200).collect();
    report.panics = u64::from(!clean);

    let served = ProcessServer::start_with_env(
        planted_bin,
        data,
        &[(autocapture_core::base::crash::ENV_PLANT, "token_any_peer")],
    )?;
    let (status, body) = fetch(&client, served.addr, Some(FOREIGN))?;
    let clean = served.stop()?;
    planted.observed = if status == 403 && body.contains("token_peer_foreign") {
        format!("missed: the planted server refused with {status}")
    } else {
        "found".to_owned()
    };
    planted.detail = format!("another user's request got {status}");
    planted.panics = u64::from(!clean);
    Ok(vec![report, planted])
}
