//! The adapter protocol of `conform hypervisor`: a TOML file (schema
//! `autocapture.conform.adapter.v1`) naming the commands a Hypervisor build offers, each an argv
//! array with `{placeholders}` the harness fills in per scenario. [`load`] reads and validates the
//! file (every fault an [`AdapterError`] with a code and the key at fault); [`Adapter::run`] runs a
//! command to its end under a timeout, [`Adapter::spawn`] starts a long-running one (the activity
//! publisher) in its own process group. The format is documented in `docs/conformance.md`.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use autocapture_core::contract::sha256_hex;

/// The `schema` an adapter file declares.
pub const ADAPTER_SCHEMA: &str = "autocapture.conform.adapter.v1";
/// How long one command may run unless the file says `timeout_seconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The `schema` of the input `write_handoff` is given.
pub const CAPTURE_SCHEMA: &str = "autocapture.conform.capture.v1";

/// What `write_handoff` is asked to write (the `{input}` file, JSON): one handoff of a capture
/// session. A session of `frames` frames in run `run_id` is split into `handoffs` handoffs; each
/// call writes the next one (`handoff_index`, 0 first, always in order), and record ids continue
/// across the handoffs of a run (never restarted, never reused).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureInput {
    /// [`CAPTURE_SCHEMA`].
    pub schema: String,
    /// The scenario asking, for the producer's logs.
    pub scenario: String,
    pub run_id: String,
    pub session: CaptureSession,
    pub handoff_index: u32,
    /// The table layout the scenario names (`canonical`); a producer writing only the
    /// canonical layout may ignore it.
    pub layout: String,
    /// Also write the UIA fallback `{data_dir}/uia/latest.snap.json` with its sidecar
    /// `latest.snap.sha256` (the latest snapshot walked).
    pub fallback_snapshot: bool,
}

/// The capture session a handoff belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSession {
    /// Seeds whatever the producer varies (a synthetic screen, timings); the same input gives
    /// the same handoff where the producer can.
    pub seed: u64,
    pub frames: u64,
    pub handoffs: u32,
}

/// A command of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    WriteHandoff,
    CloseHandoff,
    Reap,
    RefreshActivity,
    PopupRequest,
}

/// Placeholders every command may use.
const COMMON: &[&str] = &["harness", "adapter_dir", "state_dir"];

impl Verb {
    pub const ALL: [Verb; 5] = [
        Verb::WriteHandoff,
        Verb::CloseHandoff,
        Verb::Reap,
        Verb::RefreshActivity,
        Verb::PopupRequest,
    ];

    /// The key under `[commands]`.
    pub fn key(self) -> &'static str {
        match self {
            Verb::WriteHandoff => "write_handoff",
            Verb::CloseHandoff => "close_handoff",
            Verb::Reap => "reap",
            Verb::RefreshActivity => "refresh_activity",
            Verb::PopupRequest => "popup_request",
        }
    }

    /// `(placeholders it must use, placeholders it may use besides [`COMMON`])`.
    pub fn placeholders(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Verb::WriteHandoff => (&["input", "handoff"], &["name", "data_dir"]),
            Verb::CloseHandoff => (&["handoff", "spool"], &["name"]),
            Verb::Reap => (&["spool", "data_dir", "witness_dir"], &[]),
            Verb::RefreshActivity => (&["signal", "state"], &[]),
            Verb::PopupRequest => (&["url", "question"], &["token_file"]),
        }
    }

    fn allows(self, name: &str) -> bool {
        let (required, optional) = self.placeholders();
        COMMON.contains(&name) || required.contains(&name) || optional.contains(&name)
    }
}

/// Why an adapter file cannot be used (exit 2): a stable code, the file, the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    pub code: &'static str,
    pub message: String,
    pub path: PathBuf,
}

fn error(code: &'static str, path: &Path, message: String) -> AdapterError {
    AdapterError {
        code,
        message,
        path: path.to_path_buf(),
    }
}

/// A validated adapter file.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The file, absolute.
    pub path: PathBuf,
    /// Its folder: relative programs are found and every command runs there.
    pub dir: PathBuf,
    /// `name`, else the file's stem.
    pub name: String,
    pub timeout: Duration,
    /// sha256 hex of the file's bytes (what the signed report names).
    pub sha256: String,
    commands: BTreeMap<Verb, Vec<String>>,
}

/// Reads and validates the adapter file at `path`.
pub fn load(path: &Path) -> Result<Adapter, AdapterError> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let bytes = std::fs::read(&absolute).map_err(|e| {
        error(
            "adapter_unreadable",
            path,
            format!("read the adapter file {}: {e}", path.display()),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        error(
            "adapter_toml_invalid",
            path,
            format!("the adapter file {} is not UTF-8", path.display()),
        )
    })?;
    parse(&text, &absolute)
}

/// Parses and validates adapter `text` read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Adapter, AdapterError> {
    let shown = path.display();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .and_then(|span| text.get(..span.start))
            .map_or(0, |before| before.matches('\n').count() + 1);
        let reason = format!("line {line}: {}", e.message().trim());
        error(
            "adapter_toml_invalid",
            path,
            format!("parse the adapter file {shown}: {reason}"),
        )
    })?;
    for key in table.keys() {
        if !["schema", "name", "timeout_seconds", "commands"].contains(&key.as_str()) {
            return Err(error(
                "adapter_key_unknown",
                path,
                format!(
                    "{shown}: unknown key `{key}` (known: schema, name, timeout_seconds, commands)"
                ),
            ));
        }
    }
    match table.get("schema").and_then(toml::Value::as_str) {
        Some(ADAPTER_SCHEMA) => {}
        other => {
            return Err(error(
                "adapter_schema_unknown",
                path,
                format!("{shown}: `schema` is {other:?}; expected \"{ADAPTER_SCHEMA}\""),
            ));
        }
    }
    let name = match table.get("name") {
        None => path.file_stem().map_or_else(
            || "adapter".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        ),
        Some(toml::Value::String(name)) if !name.trim().is_empty() => name.clone(),
        Some(_) => {
            return Err(error(
                "adapter_key_invalid",
                path,
                format!("{shown}: `name` must be a non-empty string"),
            ));
        }
    };
    let timeout = match table.get("timeout_seconds") {
        None => DEFAULT_TIMEOUT,
        Some(toml::Value::Integer(n)) if (1..=3600).contains(n) => {
            Duration::from_secs(n.unsigned_abs())
        }
        Some(_) => {
            return Err(error(
                "adapter_key_invalid",
                path,
                format!("{shown}: `timeout_seconds` must be an integer from 1 to 3600"),
            ));
        }
    };
    let Some(toml::Value::Table(given)) = table.get("commands") else {
        return Err(error(
            "adapter_command_missing",
            path,
            format!("{shown}: no [commands] table"),
        ));
    };
    for key in given.keys() {
        if !Verb::ALL.iter().any(|v| v.key() == key) {
            let known: Vec<&str> = Verb::ALL.iter().map(|v| v.key()).collect();
            return Err(error(
                "adapter_key_unknown",
                path,
                format!(
                    "{shown}: unknown command `commands.{key}` (known: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let mut commands = BTreeMap::new();
    for verb in Verb::ALL {
        let key = verb.key();
        let argv = given.get(key).ok_or_else(|| {
            error(
                "adapter_command_missing",
                path,
                format!("{shown}: `commands.{key}` is missing"),
            )
        })?;
        commands.insert(verb, command_of(verb, argv, path)?);
    }
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(Adapter {
        path: path.to_path_buf(),
        dir,
        name,
        timeout,
        sha256: sha256_hex(text.as_bytes()),
        commands,
    })
}

/// One command's argv, checked: a non-empty array of strings whose placeholders the verb knows
/// and which uses every placeholder the verb needs.
fn command_of(verb: Verb, value: &toml::Value, path: &Path) -> Result<Vec<String>, AdapterError> {
    let key = verb.key();
    let shown = path.display();
    let invalid = |what: String| {
        error(
            "adapter_command_invalid",
            path,
            format!("{shown}: `commands.{key}` {what}"),
        )
    };
    let items = value
        .as_array()
        .ok_or_else(|| invalid("must be an array of strings (the argv)".into()))?;
    if items.is_empty() {
        return Err(invalid("is empty: it needs at least the program".into()));
    }
    let mut argv = Vec::with_capacity(items.len());
    let mut used = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let word = item
            .as_str()
            .ok_or_else(|| invalid(format!("[{index}] is not a string")))?;
        for name in placeholders_in(word).map_err(|e| invalid(format!("[{index}]: {e}")))? {
            if !verb.allows(&name) {
                let (required, optional) = verb.placeholders();
                let allowed: Vec<String> = COMMON
                    .iter()
                    .chain(required)
                    .chain(optional)
                    .map(|p| format!("{{{p}}}"))
                    .collect();
                return Err(error(
                    "adapter_placeholder_unknown",
                    path,
                    format!(
                        "{shown}: `commands.{key}[{index}]` uses {{{name}}}, which {key} does not fill (it fills {})",
                        allowed.join(", ")
                    ),
                ));
            }
            used.push(name);
        }
        argv.push(word.to_owned());
    }
    for needed in verb.placeholders().0 {
        if !used.iter().any(|u| u == needed) {
            return Err(error(
                "adapter_placeholder_missing",
                path,
                format!("{shown}: `commands.{key}` never passes {{{needed}}}, which {key} needs"),
            ));
        }
    }
    Ok(argv)
}

/// The placeholder names in `word` (`{name}`; `{{` and `}}` are literal braces).
fn placeholders_in(word: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = word;
    while let Some(start) = rest.find(['{', '}']) {
        let after = &rest[start + 1..];
        if rest[start..].starts_with("{{") || rest[start..].starts_with("}}") {
            rest = &rest[start + 2..];
            continue;
        }
        if rest[start..].starts_with('}') {
            return Err("a lone `}` (write `}}` for a literal brace)".into());
        }
        let end = after
            .find('}')
            .ok_or("an unclosed `{` (write `{{` for a literal brace)")?;
        let name = &after[..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(format!("`{{{name}}}` is not a placeholder name"));
        }
        names.push(name.to_owned());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// `word` with every placeholder replaced by its value in `vars`.
fn expand(word: &str, vars: &BTreeMap<&str, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(start) = rest.find(['{', '}']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let end = tail.find('}').context("an unclosed `{`")?;
        let name = &tail[1..end];
        let value = vars
            .get(name)
            .with_context(|| format!("the harness has no value for {{{name}}} here"))?;
        out.push_str(value);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How a command ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The argv as run.
    pub argv: Vec<String>,
    /// The exit code; `None` when a signal ended it (or the harness killed it at its timeout).
    pub exit: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.exit == Some(0)
    }

    /// One line for messages: the argv, the exit and the end of stderr.
    pub fn describe(&self) -> String {
        let exit = match (self.exit, self.timed_out) {
            (_, true) => "was killed at its timeout".to_owned(),
            (Some(code), _) => format!("exited {code}"),
            (None, _) => "was ended by a signal".to_owned(),
        };
        let tail: String = self.stderr.trim().chars().rev().take(400).collect();
        let tail: String = tail.chars().rev().collect();
        let shown: Vec<String> = self
            .argv
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '"', '\'']) {
                    format!("{a:?}")
                } else {
                    a.clone()
                }
            })
            .collect();
        format!("`{}` {exit}; stderr: {tail:?}", shown.join(" "))
    }
}

impl Adapter {
    /// The argv template of `verb`.
    pub fn template(&self, verb: Verb) -> &[String] {
        self.commands.get(&verb).map_or(&[], Vec::as_slice)
    }

    /// The command of `verb` with `vars` filled in, and `{harness}` and `{adapter_dir}` too.
    pub fn command(&self, verb: Verb, vars: &[(&'static str, String)]) -> anyhow::Result<Command> {
        let mut values: BTreeMap<&str, String> = vars.iter().cloned().collect();
        values.insert("adapter_dir", self.dir.display().to_string());
        if !values.contains_key("harness") {
            let harness = std::env::current_exe().context("locate the harness binary")?;
            values.insert("harness", harness.display().to_string());
        }
        let argv = self
            .template(verb)
            .iter()
            .map(|word| expand(word, &values))
            .collect::<anyhow::Result<Vec<String>>>()
            .with_context(|| format!("fill in commands.{}", verb.key()))?;
        let program = PathBuf::from(&argv[0]);
        let program = if program.is_relative() && argv[0].contains('/') {
            self.dir.join(program)
        } else {
            program
        };
        let mut command = Command::new(program);
        command
            .args(&argv[1..])
            .current_dir(&self.dir)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env("AUTOCAPTURE_CONFORM_VERB", verb.key())
            .env_remove("AUTOCAPTURE_CONFIG")
            .stdin(Stdio::null())
            .process_group(0);
        Ok(command)
    }

    /// Runs `verb` to its end (killing its process group at the timeout).
    pub fn run(
        &self,
        verb: Verb,
        vars: &[(&'static str, String)],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Outcome> {
        let mut command = self.command(verb, vars)?;
        let argv = argv_of(&command);
        command
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("start commands.{} `{}`", verb.key(), argv.join(" ")))?;
        let readers = [
            child.stdout.take().map(drain),
            child.stderr.take().map(drain),
        ];
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > self.timeout {
                timed_out = true;
                stop_group(&mut child, Duration::ZERO);
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let [stdout, stderr] = readers.map(|reader| {
            reader
                .and_then(|handle| handle.join().ok())
                .unwrap_or_default()
        });
        Ok(Outcome {
            argv,
            exit: status.code(),
            timed_out,
            stdout,
            stderr,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Starts `verb` and leaves it running (stdout and stderr discarded); stop it with
    /// [`stop_group`].
    pub fn spawn(
        &self,
        verb: Verb,
        vars: &[(&'static str, String)],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Child> {
        let mut command = self.command(verb, vars)?;
        let argv = argv_of(&command);
        command
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
            .spawn()
            .with_context(|| format!("start commands.{} `{}`", verb.key(), argv.join(" ")))
    }
}

fn argv_of(command: &Command) -> Vec<String> {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Ends a command started by [`Adapter::run`] or [`Adapter::spawn`] and every process of its
/// group: SIGTERM, then SIGKILL after `grace`. Returns whether it had already exited by itself.
pub fn stop_group(child: &mut Child, grace: Duration) -> bool {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let exited = matches!(child.try_wait(), Ok(Some(_)));
    let group = Pid::from_raw(child.id() as i32);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
    exited
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
schema = "autocapture.conform.adapter.v1"
[commands]
write_handoff = ["w", "--input", "{input}", "--out={handoff}"]
close_handoff = ["c", "{handoff}", "{spool}"]
reap = ["r", "{spool}", "{data_dir}", "{witness_dir}"]
refresh_activity = ["a", "{signal}", "{state}"]
popup_request = ["p", "{url}", "{question}", "{{literal}}"]
"#;

    fn code_of(text: &str) -> &'static str {
        parse(text, Path::new("/x/a.toml"))
            .err()
            .map_or("ok", |e| e.code)
    }

    #[test]
    fn a_good_file_parses_and_fills_its_placeholders() {
        let adapter = parse(GOOD, Path::new("/x/a.toml")).expect("valid");
        assert_eq!(adapter.name, "a");
        let command = adapter
            .command(
                Verb::WriteHandoff,
                &[("input", "/i.json".into()), ("handoff", "/h".into())],
            )
            .expect("command");
        assert_eq!(argv_of(&command), ["w", "--input", "/i.json", "--out=/h"]);
        let command = adapter
            .command(
                Verb::PopupRequest,
                &[("url", "u".into()), ("question", "q?".into())],
            )
            .expect("command");
        assert_eq!(argv_of(&command), ["p", "u", "q?", "{literal}"]);
    }

    #[test]
    fn every_fault_has_its_code() {
        assert_eq!(code_of(GOOD), "ok");
        assert_eq!(code_of("schema = ["), "adapter_toml_invalid");
        assert_eq!(
            code_of(&GOOD.replace("adapter.v1", "adapter.v0")),
            "adapter_schema_unknown"
        );
        assert_eq!(
            code_of(&format!("extra = 1\n{GOOD}")),
            "adapter_key_unknown"
        );
        assert_eq!(
            code_of(&GOOD.replace("reap = ", "reaper = ")),
            "adapter_key_unknown"
        );
        let without_reap: String = GOOD
            .lines()
            .filter(|l| !l.starts_with("reap"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(code_of(&without_reap), "adapter_command_missing");
        assert_eq!(
            code_of(&GOOD.replace(r#"["r", "{spool}", "{data_dir}", "{witness_dir}"]"#, "[]")),
            "adapter_command_invalid"
        );
        assert_eq!(
            code_of(&GOOD.replace("\"{state}\"", "\"{state}\", \"{url}\"")),
            "adapter_placeholder_unknown"
        );
        assert_eq!(
            code_of(&GOOD.replace("\"{witness_dir}\"", "\"w\"")),
            "adapter_placeholder_missing"
        );
        assert_eq!(
            code_of(&GOOD.replace("{{literal}}", "{open")),
            "adapter_command_invalid"
        );
    }
}
