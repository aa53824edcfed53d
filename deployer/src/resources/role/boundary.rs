//! The permissions boundary: a managed policy an administrator creates once (or `up`, when
//! allowed), carried by every role the stack makes, so the deploying identity can never make
//! a role that does more than the function needs.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
use crate::resources::{Action, iam_tags};
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

/// Makes sure the permissions boundary exists before a role is made with it. An identity
/// allowed `iam:CreatePolicy` (an administrator) creates it; the least-privileged deploying
/// identity cannot, and is told who must. An existing boundary is never changed.
pub async fn ensure_boundary_policy(ctx: &Ctx, endpoint: &str) -> anyhow::Result<()> {
    let arn = ctx.boundary_arn();
    match ctx.iam.get_policy().policy_arn(&arn).send().await {
        Ok(_) => return Ok(()),
        Err(e) if is(&e, &["NoSuchEntity"]) => {}
        Err(e) => bail!(
            "failed to read the permissions boundary {arn}: {}",
            describe(&e)
        ),
    }
    let label = format!("iam policy {}", ctx.names.boundary);
    if !ctx.change(
        Action::Create,
        &label,
        "(permissions boundary of the function role)",
    ) {
        return Ok(());
    }
    let mut req = ctx
        .iam
        .create_policy()
        .policy_name(&ctx.names.boundary)
        .description("Permissions boundary of the alex function role: the most it may ever do")
        .policy_document(boundary_document(ctx, endpoint));
    req = req.set_tags(Some(iam_tags(ctx)?));
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &["EntityAlreadyExists"]) => Ok(()),
        Err(e) if is(&e, &["AccessDenied", "AccessDeniedException"]) => bail!(
            "the permissions boundary {arn} does not exist, and this identity may not create it; every role the stack creates must carry it\nhint: an administrator creates it once: `aws iam create-policy --policy-name {} --policy-document file://deployer/boundary-policy.json` (replace PARTITION and ACCOUNT_ID in the file first; see README, \"Deploying with least privilege\")",
            ctx.names.boundary
        ),
        Err(e) => bail!("failed to create {label}: {}", describe(&e)),
    }
}
