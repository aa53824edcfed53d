//! The function's CloudWatch log group, with its retention: read → [`diff`] → apply.

use crate::aws_error::{describe, is, is_not_found};
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Action, Applier, Change, Resource, tags};
use anyhow::{anyhow, bail};

/// The log group's entry in the stack's table.
pub const RESOURCE: Resource = Resource {
    kind: Kind::LogGroup,
    holds_data: false,
    seen: |ctx| Box::pin(seen(ctx)),
    tag: |a, _| Box::pin(tag(a)),
    delete: |a, _| Box::pin(delete(a)),
};

/// What the log group needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Create it with this retention (days).
    Create(i32),
    /// Set its retention: from (`None`: never expire) to days.
    Retention(Option<i32>, i32),
}

/// What makes the log group as read (`None`: missing; `Some(None)`: never expires) keep its
/// events `days` days.
pub fn diff(current: Option<Option<i32>>, days: i32) -> Option<Edit> {
    match current {
        None => Some(Edit::Create(days)),
        Some(retention) if retention != Some(days) => Some(Edit::Retention(retention, days)),
        Some(_) => None,
    }
}

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

/// Reads the log group and diffs it with a retention of `days`.
pub async fn plan(ctx: &Ctx, days: i32) -> anyhow::Result<Option<Edit>> {
    Ok(diff(current_retention(ctx).await?, days))
}

/// How the plan shows `edit`.
pub fn change(ctx: &Ctx, edit: Edit) -> Change {
    let resource = format!("log group {}", ctx.names.log_group);
    match edit {
        Edit::Create(days) => {
            Change::new(Action::Create, resource, format!("(retention {days} d)"))
        }
        Edit::Retention(from, to) => {
            let from = from.map_or("never expire".to_string(), |d| format!("{d} d"));
            Change::new(
                Action::Update,
                resource,
                format!("retention: {from} -> {to} d"),
            )
        }
    }
}

/// Makes `edit`.
pub async fn apply(a: &Applier<'_>, edit: Edit) -> anyhow::Result<()> {
    let name = &a.names.log_group;
    let label = format!("log group {name}");
    a.made_now(change(a, edit));
    match edit {
        Edit::Create(days) => {
            let mut req = a.logs.create_log_group().log_group_name(name);
            req = req.set_tags(Some(tags(a)));
            match req.send().await {
                Ok(_) => {}
                Err(e) if is(&e, &["ResourceAlreadyExistsException"]) => {}
                Err(e) => bail!("failed to create {label}: {}", describe(&e)),
            }
            // Part of the creation just reported, not a change of its own.
            set_retention(a, &label, days).await
        }
        Edit::Retention(_, days) => set_retention(a, &label, days).await,
    }
}

async fn set_retention(a: &Applier<'_>, label: &str, days: i32) -> anyhow::Result<()> {
    a.logs
        .put_retention_policy()
        .log_group_name(&a.names.log_group)
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
pub async fn tag(a: &Applier<'_>) -> anyhow::Result<()> {
    let mut req = a.logs.tag_resource().resource_arn(a.log_group_arn());
    req = req.set_tags(Some(tags(a)));
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// Deletes the log group.
pub async fn delete(a: &Applier<'_>) -> anyhow::Result<()> {
    let name = &a.names.log_group;
    if current_retention(a).await?.is_none() {
        return Ok(());
    }
    a.record(Action::Delete, format!("log group {name}"), "");
    match a.logs.delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!("failed to delete log group {name}: {}", describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_group_is_created_or_its_retention_repaired() {
        assert_eq!(diff(None, 7), Some(Edit::Create(7)));
        assert_eq!(diff(Some(Some(7)), 7), None);
        assert_eq!(diff(Some(None), 7), Some(Edit::Retention(None, 7)));
        assert_eq!(diff(Some(Some(30)), 7), Some(Edit::Retention(Some(30), 7)));
    }
}
