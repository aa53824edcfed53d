//! Progress lines on stderr (a spinner while waiting, on a terminal); silent with `-q`.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Progress output.
#[derive(Debug, Clone)]
pub struct Progress {
    quiet: bool,
    tty: bool,
}

impl Progress {
    /// `quiet` silences everything but errors and warnings.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Whether `-q` was given.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// One line of progress.
    pub fn step(&self, line: &str) {
        if !self.quiet {
            eprintln!("  {line}");
        }
    }

    /// A warning (shown even with `-q`).
    pub fn warn(&self, line: &str) {
        eprintln!("warning: {line}");
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
