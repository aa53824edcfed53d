//! `up`: build and package the function, check the embedding endpoint, plan, print the plan
//! and apply it ([`crate::stack`]); `--dry-run` stops after the plan, like `plan`.

use crate::cli::UpArgs;
use crate::context::Ctx;
use crate::resources::Change;
use crate::resources::function::Code;
use crate::stack::{self, Changes, Spec};
use serde::Serialize;

/// What `up` did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct UpReport {
    /// Stack name.
    pub stack: String,
    /// Region.
    pub region: String,
    /// The plan it applied (or, with `--dry-run`, would apply).
    pub plan: Changes,
    /// Every change made, in order (none with `--dry-run`).
    pub changes: Vec<Change>,
    /// `--dry-run`: nothing was changed.
    pub dry_run: bool,
}

impl std::fmt::Display for UpReport {
    /// The plan, as `plan` prints it (the changes were shown on stderr as they were made).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.plan, f)
    }
}

impl crate::report::Report for UpReport {
    fn summary(&self) -> Option<String> {
        if self.dry_run {
            return Some("dry run: nothing was changed; `deployer up` applies this plan".into());
        }
        Some(format!(
            "stack `{}` is up in {} ({} change(s)); `deployer output` prints the endpoint and key",
            self.stack,
            self.region,
            self.changes.len()
        ))
    }
}

/// `up`.
pub async fn run(ctx: &Ctx, args: &UpArgs) -> anyhow::Result<UpReport> {
    let stack = &args.stack;
    let code = stack::artifact(ctx, stack)?;
    let endpoint = crate::endpoint::settings(ctx, stack).await;
    // Before anything changes: a wrong dimension is bad input and must change nothing.
    stack::preflight(ctx, stack, endpoint).await?;
    let spec = Spec::new(ctx, stack, endpoint, Code::Artifact(code));
    let plan = stack::plan(ctx, spec).await?;
    let planned = Changes(plan.changes().to_vec());
    let changes = if args.dry_run {
        Vec::new()
    } else {
        if !planned.0.is_empty() {
            ctx.printer
                .step(&format!("plan    {} change(s)", planned.0.len()));
        }
        stack::apply(ctx, plan).await?
    };
    Ok(UpReport {
        stack: ctx.names.stack.clone(),
        region: ctx.region.clone(),
        plan: planned,
        changes,
        dry_run: args.dry_run,
    })
}
