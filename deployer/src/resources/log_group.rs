//! The function's CloudWatch log group, with its retention.

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Action, tags};
use anyhow::{anyhow, bail};

async fn current_retention(ctx: &Ctx) -> anyhow::Result<Option<Option<i32>>> {
    let name = &ctx.names.log_group;
    let out = ctx
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to read log group {name}: {}", describe(&e)))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
        .map(|g| g.retention_in_days()))
}

/// Creates the log group or repairs its retention.
pub async fn ensure(ctx: &Ctx, retention_days: i32) -> anyhow::Result<()> {
    let name = &ctx.names.log_group;
    let label = format!("log group {name}");
    let retention = match current_retention(ctx).await? {
        Some(r) => r,
        None => {
            if !ctx.change(
                Action::Create,
                &label,
                format!("(retention {retention_days} d)"),
            ) {
                return Ok(());
            }
            let mut req = ctx.logs.create_log_group().log_group_name(name);
            req = req.set_tags(Some(tags(ctx)));
            match req.send().await {
                Ok(_) => {}
                Err(e) if is(&e, &["ResourceAlreadyExistsException"]) => {}
                Err(e) => bail!("failed to create {label}: {}", describe(&e)),
            }
            // Part of the creation just reported, not a change of its own.
            return set_retention(ctx, &label, retention_days).await;
        }
    };
    if retention != Some(retention_days) {
        let from = retention.map_or("never expire".to_string(), |d| format!("{d} d"));
        if ctx.change(
            Action::Update,
            &label,
            format!("retention: {from} -> {retention_days} d"),
        ) {
            set_retention(ctx, &label, retention_days).await?;
        }
    }
    Ok(())
}

async fn set_retention(ctx: &Ctx, label: &str, days: i32) -> anyhow::Result<()> {
    ctx.logs
        .put_retention_policy()
        .log_group_name(&ctx.names.log_group)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| anyhow!("failed to set the retention of {label}: {}", describe(&e)))?;
    Ok(())
}

/// The log group with the stack's name, if any, judged by its tags.
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let name = &ctx.names.log_group;
    if current_retention(ctx).await?.is_none() {
        return Ok(vec![]);
    }
    let tags = ctx
        .logs
        .list_tags_for_resource()
        .resource_arn(ctx.log_group_arn())
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "failed to read the tags of log group {name}: {}",
                describe(&e)
            )
        })?;
    Ok(vec![Seen::new(
        ctx,
        Kind::LogGroup,
        name,
        None,
        tags.tags(),
    )])
}

/// Tags the log group as the stack's.
pub async fn tag(ctx: &Ctx) -> anyhow::Result<()> {
    let mut req = ctx.logs.tag_resource().resource_arn(ctx.log_group_arn());
    req = req.set_tags(Some(tags(ctx)));
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// Deletes the log group.
pub async fn delete(ctx: &Ctx) -> anyhow::Result<()> {
    let name = &ctx.names.log_group;
    if current_retention(ctx).await?.is_none() {
        return Ok(());
    }
    ctx.change(Action::Delete, format!("log group {name}"), "");
    match ctx
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete log group {name}: {}", describe(&e)),
    }
}
