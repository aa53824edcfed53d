//! The permissions boundary: a managed policy an administrator creates once (or `up`, when
//! allowed), carried by every role the stack makes, so the deploying identity can never make
//! a role that does more than the function needs.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
use crate::resources::{Action, Applier, Change, iam_tags};
use anyhow::bail;

/// The permissions boundary document (`deployer/boundary-policy.json`) for this stack: its
/// names, account and partition.
pub fn boundary_document(ctx: &Ctx, endpoint: &str) -> String {
    include_str!("../../../boundary-policy.json")
        .replace("/aws/lambda/alex-ingest", &ctx.names.log_group)
        .replace("alex-vectors-ACCOUNT_ID", &ctx.names.bucket)
        .replace(
            "endpoint/alex-embedding-endpoint",
            &format!("endpoint/{}", endpoint.to_ascii_lowercase()),
        )
        .replace("ACCOUNT_ID", &ctx.account)
        .replace("PARTITION", &ctx.partition)
}

/// Whether the permissions boundary is missing: it must exist before a role is made with it.
pub async fn boundary_missing(ctx: &Ctx) -> anyhow::Result<bool> {
    let arn = ctx.boundary_arn();
    match ctx.iam.get_policy().policy_arn(&arn).send().await {
        Ok(_) => Ok(false),
        Err(e) if is(&e, &["NoSuchEntity"]) => Ok(true),
        Err(e) => bail!(
            "failed to read the permissions boundary {arn}: {}",
            describe(&e)
        ),
    }
}

/// How the plan shows the boundary's creation.
pub fn boundary_change(ctx: &Ctx) -> Change {
    Change::new(
        Action::Create,
        format!("iam policy {}", ctx.names.boundary),
        "(permissions boundary of the function role)",
    )
}

/// Creates the missing permissions boundary. An identity allowed `iam:CreatePolicy` (an
/// administrator) creates it; the least-privileged deploying identity cannot, and is told who
/// must. An existing boundary is never changed.
pub async fn apply_boundary(a: &Applier<'_>, endpoint: &str) -> anyhow::Result<()> {
    let arn = a.boundary_arn();
    let change = boundary_change(a);
    let label = change.resource.clone();
    a.made_now(change);
    let mut req = a
        .iam
        .create_policy()
        .policy_name(&a.names.boundary)
        .description("Permissions boundary of the alex function role: the most it may ever do")
        .policy_document(boundary_document(a, endpoint));
    req = req.set_tags(Some(iam_tags(a)?));
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &["EntityAlreadyExists"]) => Ok(()),
        Err(e) if is(&e, &["AccessDenied", "AccessDeniedException"]) => bail!(
            "the permissions boundary {arn} does not exist, and this identity may not create it; every role the stack creates must carry it\nhint: an administrator creates it once: `aws iam create-policy --policy-name {} --policy-document file://deployer/boundary-policy.json` (replace PARTITION and ACCOUNT_ID in the file first; see README, \"Deploying with least privilege\")",
            a.names.boundary
        ),
        Err(e) => bail!("failed to create {label}: {}", describe(&e)),
    }
}
