//! The one place the deployer writes to the terminal. A [`Printer`] is built once from the
//! global flags (`--json`, `-q`, `-v`) and handed to whatever prints: a command's data goes to
//! stdout through [`Printer::emit`] (text via `Display`, or `--json`) or [`Printer::stream_line`]
//! (`logs --follow`); progress, warnings, errors and prompts go to stderr. Everything else in
//! the crate is denied `print!`/`eprint!` (see `main.rs`), so `-q` and `--json` cannot be
//! forgotten at a call site. A closed stdout (`deployer output | head -1`) is not an error.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use crate::report::Report;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// How output is shown: chosen once by the global flags.
#[derive(Debug, Clone)]
pub struct Printer {
    json: bool,
    quiet: bool,
    verbose: bool,
    tty: bool,
}

impl Printer {
    /// `json` prints reports as JSON; `quiet` silences everything but data, errors and
    /// warnings; `verbose` adds the settings' sources.
    pub fn new(json: bool, quiet: bool, verbose: bool) -> Self {
        Self {
            json,
            quiet,
            verbose,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// The printer of the global flags.
    pub fn of(global: &crate::cli::GlobalArgs) -> Self {
        Self::new(global.json, global.quiet > 0, global.verbose > 0)
    }

    /// Whether `-q` was given.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether `-v` was given.
    pub fn is_verbose(&self) -> bool {
        self.verbose
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// One line of progress on stderr (silenced by `-q`).
    pub fn step(&self, line: &str) {
        if !self.quiet {
            eprintln!("  {line}");
        }
    }

    /// A warning on stderr (shown even with `-q`).
    pub fn warn(&self, line: &str) {
        eprintln!("warning: {line}");
    }

    /// An error on stderr (shown even with `-q`); `{:#}` gives anyhow's chain.
    pub fn error(&self, error: &dyn std::fmt::Display) {
        eprintln!("error: {error}");
    }

    /// A question on stderr, answered on stdin.
    pub fn prompt(&self, question: &str) -> std::io::Result<String> {
        eprint!("{question}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line)
    }

    /// Prints `report`: JSON or text on stdout, then its summary and errors on stderr; returns
    /// its exit status.
    pub fn emit<R: Report>(&self, report: &R) -> anyhow::Result<ExitCode> {
        let text = if self.json && report.has_json() {
            format!("{}\n", serde_json::to_string_pretty(report)?)
        } else {
            report.to_string()
        };
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
        if let Some(line) = report.summary() {
            self.step(&line);
        }
        for error in report.errors() {
            self.error(&error);
        }
        Ok(report.status())
    }

    /// Prints one line of a streaming command (`logs --follow`) on stdout; `false` once stdout
    /// is closed (`deployer logs --follow | head`), which ends the command quietly.
    pub fn stream_line(&self, line: &str) -> anyhow::Result<bool> {
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            other => other.map(|()| true).map_err(Into::into),
        }
    }

    /// A spinner while something slow happens; `None` when not on a terminal.
    pub fn spinner(&self, message: &str) -> Option<ProgressBar> {
        if self.quiet || !self.tty {
            return None;
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }

    /// A bar over `len` items (terminal only).
    pub fn bar(&self, len: u64, message: &str) -> Option<ProgressBar> {
        if self.quiet || !self.tty {
            return None;
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("  {msg} [{bar:30}] {pos}/{len} {rate} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                // indicatif's own `{per_sec}` prints four decimals ("8.9186/s").
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1}/s", state.per_sec());
                    },
                ),
        );
        bar.set_message(message.to_string());
        Some(bar)
    }
}

/// `n` and `noun`, plural unless one: "1 chunk", "69 chunks".
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Failing {
        failures: Vec<String>,
    }

    impl std::fmt::Display for Failing {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Ok(())
        }
    }

    impl Report for Failing {
        fn status(&self) -> ExitCode {
            if self.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1, "chunk"), "1 chunk");
        assert_eq!(count(0, "chunk"), "0 chunks");
        assert_eq!(count(69, "chunk"), "69 chunks");
    }

    #[test]
    fn a_report_decides_its_exit_status() {
        let ok = Failing { failures: vec![] };
        let quiet_json = Printer::new(true, true, false);
        assert_eq!(quiet_json.emit(&ok).unwrap(), ExitCode::SUCCESS);
        let failed = Failing {
            failures: vec!["x".into()],
        };
        let quiet_text = Printer::new(false, true, false);
        assert_eq!(quiet_text.emit(&failed).unwrap(), ExitCode::FAILURE);
    }
}
