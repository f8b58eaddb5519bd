//! The one error shape of `autocapture-gates`, the same as `autocapture`'s: on stderr the line
//! `autocapture-gates: error[code]: message (path)` (the path only when one is at fault and the
//! message does not already name it), with `--json` exactly one document on stdout,
//! `{"ok": false, "error": {"code", "message", "path"?}}`; and the exit code of the table in
//! `autocapture_core::cli::EXIT_CODES`. The codes are listed in docs/release-gates.md.
//!
//! Which exit: 1 when the document the command judges is missing or bad (`sla estimate`'s input,
//! the sister document of `contract check` and `signoff`), as a missing or damaged handoff is for
//! `autocapture`; 2 for usage (bad arguments) and environment (no checkout, no DataRoot, an
//! output folder that cannot be written, a key, a file the command needs in order to run: a
//! story, case, phrasing file or corpus), as a bad configuration is for `autocapture`; `verify`
//! keeps its own 2–9.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::exit;
use crate::harness::sister::SisterError;
use crate::sla::inputs::SlaInputError;

/// The program name every line starts with.
pub const PROGRAM: &str = "autocapture-gates";

/// The code of an error that reached `main` without one of its own (a failure inside the
/// harness, not a fault of the arguments or the inputs); exit 2.
pub const HARNESS_FAILED: &str = "harness_failed";

/// An error of the command line: a stable snake_case code, what went wrong, the file at fault
/// and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: &'static str,
    pub message: String,
    pub path: Option<PathBuf>,
    pub exit: u8,
    /// Further members of the JSON `error` object (`verify`'s `exit_code`).
    pub extra: Vec<(&'static str, Value)>,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    pub fn new(code: &'static str, message: impl Into<String>, exit: u8) -> CliError {
        CliError {
            code,
            message: message.into(),
            path: None,
            exit,
            extra: Vec::new(),
        }
    }

    /// The same error, naming `path` as the file at fault.
    pub fn at(mut self, path: impl Into<PathBuf>) -> CliError {
        self.path = Some(path.into());
        self
    }

    /// Bad arguments (exit 2).
    pub fn usage(code: &'static str, message: impl Into<String>) -> CliError {
        CliError::new(code, message, exit::ERROR)
    }

    /// An I/O failure on `path` while doing `what` (`read the case file`): the message names the
    /// path once and the operating system's text once.
    pub fn io(
        code: &'static str,
        what: &str,
        path: &Path,
        error: &std::io::Error,
        exit: u8,
    ) -> CliError {
        CliError::new(code, format!("{what} {}: {error}", path.display()), exit).at(path)
    }

    /// A file a command needs to run, missing or unreadable (exit 2): `input_missing` or
    /// `input_unreadable`.
    pub fn input(what: &str, path: &Path, error: &std::io::Error) -> CliError {
        let code = if error.kind() == std::io::ErrorKind::NotFound {
            "input_missing"
        } else {
            "input_unreadable"
        };
        CliError::io(code, &format!("read {what}"), path, error, exit::ERROR)
    }

    /// An output folder or file that cannot be written (exit 2).
    pub fn out_unwritable(path: &Path, error: &std::io::Error) -> CliError {
        CliError::io("out_unwritable", "write", path, error, exit::ERROR)
    }

    /// A JSON document that does not parse (exit 1).
    pub fn json(path: &Path, error: &serde_json::Error) -> CliError {
        CliError::new(
            "json_invalid",
            format!("parse {} as JSON: {error}", path.display()),
            exit::FAIL,
        )
        .at(path)
    }

    /// A TOML document that does not parse (exit 1).
    pub fn toml(path: &Path, error: &toml::de::Error) -> CliError {
        CliError::new(
            "toml_invalid",
            format!("parse {}: {}", path.display(), one_line(&error.to_string())),
            exit::FAIL,
        )
        .at(path)
    }

    /// A sister document that cannot be read or does not carry the pair (exit 1: the document
    /// under check is bad, as a missing handoff is for `autocapture`).
    pub fn sister(error: &SisterError) -> CliError {
        let (path, message) = match error {
            SisterError::Unreadable { path, source } => (
                path,
                format!("read the sister document {}: {source}", path.display()),
            ),
            SisterError::Invalid { path, reason } => (
                path,
                format!(
                    "the sister document {} is not valid: {reason}",
                    path.display()
                ),
            ),
            SisterError::Ambiguous {
                path,
                field,
                first,
                second,
            } => (
                path,
                format!(
                    "the sister document {} gives {field} as both {first:?} and {second:?}",
                    path.display()
                ),
            ),
        };
        CliError::new(error.code(), message, exit::FAIL).at(path)
    }

    /// An `sla estimate` input that is missing or bad (exit 1).
    pub fn sla_input(error: &SlaInputError) -> CliError {
        let path = match error {
            SlaInputError::Unreadable { path, .. }
            | SlaInputError::NotJson { path, .. }
            | SlaInputError::Invalid { path, .. }
            | SlaInputError::TraceUnreadable { path, .. }
            | SlaInputError::TraceInvalid { path, .. }
            | SlaInputError::NoSamples { path } => path,
        };
        CliError::new(error.code(), error.to_string(), exit::FAIL).at(path)
    }

    /// The line on stderr, made inert for the terminal.
    pub fn line(&self) -> String {
        let mut text = self.message.clone();
        if let Some(path) = &self.path {
            let shown = path.display().to_string();
            if !self.message.contains(&shown) {
                text.push_str(&format!(" ({shown})"));
            }
        }
        format!(
            "{PROGRAM}: error[{}]: {}",
            self.code,
            autocapture_core::base::terminal::safe_text(&text)
        )
    }

    /// The `--json` document.
    pub fn document(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(path) = &self.path {
            error["path"] = json!(path.to_string_lossy());
        }
        for (key, value) in &self.extra {
            error[*key] = value.clone();
        }
        json!({"ok": false, "error": error})
    }

    /// Prints [`CliError::line`] on stderr (an error that does not end the command, such as
    /// one problem of several).
    pub fn eprint(&self) {
        eprintln!("{}", self.line());
    }
}

/// Prints `error` the one way, the document on stdout with `--json` or the line on stderr;
/// its exit code.
pub fn report(error: &CliError, json: bool) -> u8 {
    if json {
        println!("{}", error.document());
    } else {
        error.eprint();
    }
    error.exit
}

/// A command-line parse error as `error[usage]` (exit 2), followed on stderr by clap's usage
/// line and hint; help and version are printed as they are (exit 0).
pub fn report_usage(error: &clap::Error, json: bool) -> u8 {
    if !error.use_stderr() {
        let _ = error.print();
        return exit::PASS;
    }
    let text = error.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    let code = report(&CliError::usage("usage", message), json);
    let rest = lines.collect::<Vec<_>>().join("\n");
    if !json && !rest.trim().is_empty() {
        eprintln!("{}", rest.trim_end());
    }
    code
}

/// `path` as a folder this process can write into: created when missing, then probed with a
/// file that is removed again; else `out_unwritable` (exit 2).
pub fn writable_dir(path: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(path)
        .and_then(|()| tempfile::Builder::new().prefix(".probe").tempfile_in(path))
        .map(drop)
        .map_err(|e| CliError::out_unwritable(path, &e))
}

/// The `autocapture` binary beside the running harness: `autocapture_missing` (exit 2) naming
/// where it was looked for. Returns the harness's own path and the binary's.
pub fn autocapture_beside_harness() -> anyhow::Result<(PathBuf, PathBuf)> {
    let harness = std::env::current_exe()?;
    let bin = crate::harness::bins::autocapture_beside(&harness).map_err(|e| {
        let beside = harness.with_file_name("autocapture");
        CliError::new("autocapture_missing", chain_text(&e), exit::ERROR).at(beside)
    })?;
    Ok((harness, bin))
}

/// The signing key `--signing-key` names, or a throwaway dev key when none is given (`true`):
/// `key_unreadable` or `key_invalid` (exit 2) naming the file.
pub fn signing_key(path: Option<&Path>) -> Result<(ed25519_dalek::SigningKey, bool), CliError> {
    crate::harness::keys::resolve(path).map_err(|e| {
        let code = match root_io(&e) {
            Some(_) => "key_unreadable",
            None => "key_invalid",
        };
        let coded = CliError::new(code, chain_text(&e), exit::ERROR);
        match path {
            Some(path) => coded.at(path),
            None => coded,
        }
    })
}

/// No checkout of the workspace where a command needs one: `checkout_missing` (exit 2).
pub fn checkout_missing(error: anyhow::Error) -> CliError {
    CliError::new("checkout_missing", chain_text(&error), exit::ERROR)
}

/// A parser's multi-line report (`TOML parse error at line 1, column 1`, the quoted source with
/// a caret, the reason) as one line: the quoted source is left out.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('|') && !line.contains(" | "))
        .collect::<Vec<_>>()
        .join(": ")
}

/// The text of an error chain, each cause once: a cause whose text the chain already holds (an
/// I/O error its context quoted) is not repeated.
pub fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The I/O error at the root of `error`, if that is what it is.
pub fn root_io(error: &anyhow::Error) -> Option<&std::io::Error> {
    error.root_cause().downcast_ref::<std::io::Error>()
}

impl From<anyhow::Error> for CliError {
    /// A [`CliError`] travels inside anyhow as itself; the library errors with codes keep them;
    /// anything else is [`HARNESS_FAILED`] (exit 2).
    fn from(error: anyhow::Error) -> CliError {
        let error = match error.downcast::<CliError>() {
            Ok(coded) => return coded,
            Err(error) => error,
        };
        if let Some(sister) = error.downcast_ref::<SisterError>() {
            return CliError::sister(sister);
        }
        if let Some(input) = error.downcast_ref::<SlaInputError>() {
            return CliError::sla_input(input);
        }
        CliError::new(HARNESS_FAILED, chain_text(&error), exit::ERROR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_added_once_and_only_when_the_message_lacks_it() {
        let named = CliError::new("input_missing", "read /a/b: gone", exit::ERROR).at("/a/b");
        assert_eq!(
            named.line(),
            "autocapture-gates: error[input_missing]: read /a/b: gone"
        );
        let unnamed = CliError::new("contract_lock_stale", "stale", exit::FAIL).at("x.json");
        assert_eq!(
            unnamed.line(),
            "autocapture-gates: error[contract_lock_stale]: stale (x.json)"
        );
        assert_eq!(unnamed.document()["error"]["path"], "x.json");
        assert_eq!(unnamed.document()["ok"], false);
    }

    #[test]
    fn an_io_error_quoted_by_its_context_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let error = anyhow::Error::new(io).context(format!(
            "read /nope: {}",
            std::io::Error::from(std::io::ErrorKind::NotFound)
        ));
        let coded = CliError::from(error);
        assert_eq!(coded.code, HARNESS_FAILED);
        assert_eq!(coded.message.matches("not found").count(), 1, "{coded}");
    }

    #[test]
    fn a_parser_report_is_one_line() {
        let error = toml::from_str::<toml::Table>("{bad").expect_err("not TOML");
        let coded = CliError::toml(Path::new("s.toml"), &error);
        assert!(!coded.message.contains('\n'), "{coded}");
        assert!(coded.message.contains("line 1"), "{coded}");
        assert_eq!((coded.code, coded.exit), ("toml_invalid", exit::FAIL));
    }

    #[test]
    fn a_coded_error_keeps_its_code_through_anyhow() {
        let error: anyhow::Error = CliError::usage("target_invalid", "nope").into();
        let coded = CliError::from(error);
        assert_eq!((coded.code, coded.exit), ("target_invalid", exit::ERROR));
    }
}
