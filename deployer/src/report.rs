//! What a command produces: every command returns a [`Report`] — data for stdout (text via
//! `Display`, or `--json`), an optional summary line for stderr, and its exit status — and
//! [`crate::printer::Printer::emit`] prints it.

use serde::Serialize;
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
    /// Whether `--json` prints this report as JSON (a command that streams its own JSON
    /// lines, `logs`, prints only its text).
    fn has_json(&self) -> bool {
        true
    }
    /// The exit status: 0 unless the report says otherwise.
    fn status(&self) -> ExitCode {
        ExitCode::SUCCESS
    }
}
