//! The one output path: every command returns a [`Report`] — data for stdout (text via
//! `Display`, or `--json`), an optional summary line for stderr, and its exit status — and
//! [`emit`] prints it ([`stream_line`] for what streams). A closed stdout (`deployer output |
//! head -1`) is not an error.

use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// What a command produced.
pub trait Report: Serialize + std::fmt::Display {
    /// A line for stderr after the data (progress; silenced by `-q`).
    fn summary(&self) -> Option<String> {
        None
    }
    /// Errors to print on stderr even under `-q` (per-document failures).
    fn errors(&self) -> Vec<String> {
        Vec::new()
    }
    /// The exit status: 0 unless the report says otherwise.
    fn status(&self) -> ExitCode {
        ExitCode::SUCCESS
    }
}

/// Prints `report`: JSON or text on stdout, then its summary and errors on stderr; returns
/// its exit status.
pub fn emit<R: Report>(report: &R, json: bool, quiet: bool) -> anyhow::Result<ExitCode> {
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(report)?)
    } else {
        report.to_string()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    if let (Some(line), false) = (report.summary(), quiet) {
        eprintln!("  {line}");
    }
    for error in report.errors() {
        eprintln!("error: {error}");
    }
    Ok(report.status())
}

/// Prints one line of a streaming command (`logs --follow`) on stdout; `false` once stdout is
/// closed (`deployer logs --follow | head`), which ends the command quietly.
pub fn stream_line(line: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        other => other.map(|()| true).map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_report_decides_its_exit_status() {
        let ok = Failing { failures: vec![] };
        assert_eq!(emit(&ok, true, true).unwrap(), ExitCode::SUCCESS);
        let failed = Failing {
            failures: vec!["x".into()],
        };
        assert_eq!(emit(&failed, false, true).unwrap(), ExitCode::FAILURE);
    }
}
