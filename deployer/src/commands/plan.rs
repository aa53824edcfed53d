//! `plan`: what `up` would change, field by field ([`crate::stack::plan`]: it cannot change
//! anything).

use crate::cli::PlanArgs;
use crate::context::Ctx;
use crate::resources::function::Code;
use crate::stack::{self, Changes, Spec};
use serde::Serialize;

/// The plan.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    /// Changes `up` would make.
    pub changes: Changes,
    /// `--detailed-exitcode`: exit 2 when there are changes.
    #[serde(skip)]
    pub detailed_exitcode: bool,
}

impl crate::report::Report for PlanReport {
    fn status(&self) -> std::process::ExitCode {
        if self.detailed_exitcode && !self.changes.0.is_empty() {
            std::process::ExitCode::from(2)
        } else {
            std::process::ExitCode::SUCCESS
        }
    }
}

impl std::fmt::Display for PlanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.changes, f)
    }
}

/// `plan`.
pub async fn run(ctx: &Ctx, args: &PlanArgs) -> anyhow::Result<PlanReport> {
    let code = stack::artifact(ctx, &args.stack)?;
    let endpoint = crate::endpoint::settings(ctx, &args.stack).await;
    let spec = Spec::new(ctx, &args.stack, endpoint, Code::Artifact(code));
    let plan = stack::plan(ctx, spec).await?;
    Ok(PlanReport {
        changes: Changes(plan.changes().to_vec()),
        detailed_exitcode: args.detailed_exitcode,
    })
}
