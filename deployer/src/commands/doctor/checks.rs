//! The stack's checks: endpoint, index, drift.

use super::{Check, Status, check};
use crate::context::Ctx;
use crate::resources::function::Code;
use crate::stack::Spec;

async fn read_index(
    ctx: &Ctx,
) -> Result<
    aws_sdk_s3vectors::operation::get_index::GetIndexOutput,
    aws_smithy_runtime_api::client::result::SdkError<
        aws_sdk_s3vectors::operation::get_index::GetIndexError,
        aws_smithy_runtime_api::http::Response,
    >,
> {
    ctx.s3v
        .get_index()
        .vector_bucket_name(&ctx.names.bucket)
        .index_name(&ctx.names.index)
        .send()
        .await
}

/// The embedding endpoint's status and profile.
pub(super) async fn endpoint(ctx: &Ctx, stack: &crate::cli::StackArgs) -> Check {
    let name = &stack.embedding_endpoint;
    match crate::endpoint::observe(ctx, name).await {
        Ok(seen) if seen.status == "InService" => check(
            "endpoint",
            Status::Ok,
            format!(
                "{name} InService, {:?}, max concurrency {}",
                seen.profile,
                seen.max_concurrency
                    .map_or("-".to_string(), |n| n.to_string())
            ),
        ),
        Ok(seen) => check(
            "endpoint",
            Status::Fail,
            format!(
                "{name} is {}\nhint: the function fails until it is InService",
                seen.status
            ),
        ),
        Err(why) => check(
            "endpoint",
            Status::Warn,
            format!(
                "could not describe {name}: {why}\nhint: allow sagemaker:DescribeEndpoint and DescribeEndpointConfig to check it"
            ),
        ),
    }
}

/// The index against the stack's dimension and metric, and its mode.
pub(super) async fn index(ctx: &Ctx, stack: &crate::cli::StackArgs) -> Check {
    let label = format!("{}/{}", ctx.names.bucket, ctx.names.index);
    let index = match read_index(ctx).await {
        Ok(out) => out.index,
        Err(e) if crate::aws_error::is_not_found(&e) => {
            return check(
                "index",
                Status::Warn,
                format!("{label} does not exist yet\nhint: `deployer up` creates it"),
            );
        }
        Err(e) => {
            return check(
                "index",
                Status::Fail,
                format!("could not read {label}: {}", crate::aws_error::describe(&e)),
            );
        }
    };
    let Some(index) = index else {
        return check(
            "index",
            Status::Fail,
            format!("GetIndex returned no index for {label}"),
        );
    };
    let mode = index.index_mode().map_or("unknown", |m| m.as_str());
    let detail = format!(
        "{label}: {} dims, {}, mode {mode}",
        index.dimension(),
        index.distance_metric().as_str()
    );
    if index.dimension() as u32 != stack.dimension
        || index.distance_metric().as_str() != stack.metric.as_str()
    {
        return check(
            "index",
            Status::Fail,
            format!(
                "{detail}; the stack wants {} dims, {}",
                stack.dimension,
                stack.metric.as_str()
            ),
        );
    }
    if mode == "CLASSIC" {
        return check(
            "index",
            Status::Warn,
            format!(
                "{detail}\nhint: `deployer up --index-mode enhanced` (in place, no charge) for exact filtered search and $startsWith"
            ),
        );
    }
    check("index", Status::Ok, detail)
}

/// The stack's plan with the deployed code (so code is not compared).
pub(super) async fn drift(
    ctx: &Ctx,
    stack: &crate::cli::StackArgs,
    settings: crate::endpoint::EndpointSettings,
) -> Check {
    let spec = Spec::new(ctx, stack, settings, Code::Deployed);
    match crate::stack::plan(ctx, spec).await {
        Err(e) => check("drift", Status::Fail, format!("{e:#}")),
        Ok(plan) => {
            let changes = plan.changes();
            if changes.is_empty() {
                return check(
                    "drift",
                    Status::Ok,
                    "the stack matches its configuration (code not compared)",
                );
            }
            let mut detail = format!("{} change(s) pending:", changes.len());
            for c in changes.iter().take(8) {
                detail.push_str(&format!("\n{c}"));
            }
            detail.push_str("\nhint: `deployer plan` shows them all, `deployer up` makes them");
            check("drift", Status::Warn, detail)
        }
    }
}
