//! `down`: removes the stack in dependency order ([`crate::stack::teardown`], then
//! [`crate::stack::destroy`]), keeping the vector bucket and index unless `--delete-data`.
//! Works with nothing local and after a partial `up`; safe to repeat. Only what carries the
//! stack's tags is deleted ([`crate::ownership`]); same-named resources without them are
//! listed as left alone.

use crate::cli::DownArgs;
use crate::context::Ctx;
use crate::ownership::Seen;
use crate::resources::Change;
use crate::stack;
use anyhow::bail;
use serde::Serialize;
use std::io::IsTerminal;

/// What `down` did.
#[derive(Debug, Serialize)]
pub struct DownReport {
    /// Stack name.
    pub stack: String,
    /// Everything deleted.
    pub changes: Vec<Change>,
    /// Whether the vector data was kept.
    pub data_kept: bool,
    /// Same-named resources the stack does not own, not deleted.
    pub left_alone: Vec<String>,
}

impl std::fmt::Display for DownReport {
    /// Nothing on stdout: the deletions were shown as they were made.
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl crate::report::Report for DownReport {
    fn summary(&self) -> Option<String> {
        Some(format!(
            "stack `{}` is down ({} deletion(s))",
            self.stack,
            self.changes.len()
        ))
    }
}

fn confirm(ctx: &Ctx) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to delete vector bucket {} ({}) without confirmation\nhint: pass `--yes` to delete the data non-interactively",
            ctx.names.bucket,
            ctx.target()
        );
    }
    let line = ctx.printer.prompt(&format!(
        "This deletes every document in {}/{} ({}). Type the bucket name to confirm: ",
        ctx.names.bucket,
        ctx.names.index,
        ctx.target()
    ))?;
    if line.trim() != ctx.names.bucket {
        bail!("not confirmed; nothing was deleted");
    }
    Ok(())
}

/// `down`.
pub async fn run(ctx: &Ctx, args: &DownArgs) -> anyhow::Result<DownReport> {
    if args.delete_data && !args.yes {
        confirm(ctx)?;
    }
    let teardown = stack::teardown(ctx, args.delete_data).await?;
    let changes = stack::destroy(ctx, &teardown).await?;
    if !args.delete_data {
        ctx.printer.step(&format!(
            "kept    vector bucket {} and index {} (pass `--delete-data` to remove them)",
            ctx.names.bucket, ctx.names.index
        ));
    }
    Ok(DownReport {
        stack: ctx.names.stack.clone(),
        changes,
        data_kept: !args.delete_data,
        left_alone: teardown.left_alone.iter().map(Seen::describe).collect(),
    })
}
