//! `plan`: what `up` would change, field by field, without changing anything.

use crate::cli::PlanArgs;
use crate::commands::up;
use crate::context::Ctx;
use crate::resources::Change;
use serde::Serialize;

/// The plan.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    /// Changes `up` would make.
    pub changes: Vec<Change>,
    /// `--detailed-exitcode`: exit 2 when there are changes.
    #[serde(skip)]
    pub detailed_exitcode: bool,
}

impl crate::report::Report for PlanReport {
    fn status(&self) -> std::process::ExitCode {
        if self.detailed_exitcode && !self.changes.is_empty() {
            std::process::ExitCode::from(2)
        } else {
            std::process::ExitCode::SUCCESS
        }
    }
}

impl std::fmt::Display for PlanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "No changes: the stack matches the configuration.");
        }
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        writeln!(f, "{} change(s).", self.changes.len())
    }
}

/// `plan` (the context is in dry-run mode).
pub async fn run(ctx: &Ctx, args: &PlanArgs) -> anyhow::Result<PlanReport> {
    let code = up::artifact(ctx, &args.stack)?;
    let endpoint = crate::endpoint::settings(ctx, &args.stack).await;
    up::converge(ctx, &args.stack, &code, endpoint).await?;
    Ok(PlanReport {
        changes: ctx.changes(),
        detailed_exitcode: args.detailed_exitcode,
    })
}
