//! The Lambda function: created with the role-propagation retry, then every change waits for
//! `State=Active` and `LastUpdateStatus` to settle; configuration drift is repaired field by
//! field and code is uploaded only when `CodeSha256` differs.

use crate::aws_error::{describe, is, is_not_found, message};
use crate::cli::Arch;
use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::package::Artifact;
use anyhow::{anyhow, bail};
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use aws_smithy_types::Blob;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long to wait for a new role to become assumable (Terraform waits 5 minutes).
const ROLE_PROPAGATION_BUDGET: Duration = Duration::from_secs(300);
/// How long to wait for the function to settle after a change.
const SETTLE_BUDGET: Duration = Duration::from_secs(300);

/// The desired function configuration.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Execution role ARN.
    pub role_arn: String,
    /// MB.
    pub memory: i32,
    /// Seconds.
    pub timeout: i32,
    /// Architecture.
    pub arch: Arch,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
}

fn architecture(arch: Arch) -> Architecture {
    match arch {
        Arch::X86_64 => Architecture::X8664,
        Arch::Arm64 => Architecture::Arm64,
    }
}

/// Whether `err` is one of the two errors a role too new for IAM to have propagated causes
/// (code *and* message): the role "cannot be assumed by Lambda", or the KMS grant for the
/// function's environment variables fails ("KMS key is invalid for CreateGrant"). Terraform's
/// AWS provider retries both for the same reason.
fn role_not_ready<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    let text = message(err);
    is(err, &["InvalidParameterValueException"])
        && (text.contains("cannot be assumed by Lambda")
            || text.contains("KMS key is invalid for CreateGrant"))
}

/// Waits until the function is Active and no update is in progress; returns its configuration.
pub async fn wait_settled(
    ctx: &Ctx,
) -> anyhow::Result<
    aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
> {
    let started = Instant::now();
    let spinner = ctx.progress.spinner(&format!(
        "waiting for lambda function {}",
        ctx.names.function
    ));
    let mut delay = Duration::from_millis(100);
    loop {
        let out = ctx
            .lambda
            .get_function_configuration()
            .function_name(&ctx.names.function)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "failed to read lambda function {}: {}",
                    ctx.names.function,
                    describe(&e)
                )
            })?;
        match (out.state(), out.last_update_status()) {
            (Some(State::Failed), _) => bail!(
                "lambda function {} failed to become active: {}",
                ctx.names.function,
                out.state_reason().unwrap_or("no reason given")
            ),
            (_, Some(LastUpdateStatus::Failed)) => bail!(
                "the last update of lambda function {} failed: {}",
                ctx.names.function,
                out.last_update_status_reason().unwrap_or("no reason given")
            ),
            (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => {}
            _ => {
                if let Some(s) = spinner {
                    s.finish_and_clear();
                }
                return Ok(out);
            }
        }
        if started.elapsed() > SETTLE_BUDGET {
            bail!(
                "lambda function {} did not settle within 5 minutes",
                ctx.names.function
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

type LambdaResult<T, E> = Result<
    T,
    aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
>;

/// Runs `op` again while Lambda reports the role not assumable yet, or (when `conflicts` is
/// set) an update in progress; returns the last SDK error otherwise.
async fn retry_transient<T, E, F, Fut>(conflicts: bool, mut op: F) -> LambdaResult<T, E>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = LambdaResult<T, E>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match op().await {
            Err(e)
                if (role_not_ready(&e)
                    || (conflicts && is(&e, &["ResourceConflictException"])))
                    && started.elapsed() < ROLE_PROPAGATION_BUDGET =>
            {
                tracing::debug!(error = %describe(&e), "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

fn failed<E, R>(
    what: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let hint = if role_not_ready(e) {
        "\nhint: the role was created moments ago; run the command again in a minute"
    } else {
        ""
    };
    anyhow!("failed to {what}: {}{hint}", describe(e))
}

/// Creates or converges the function; returns its ARN.
pub async fn ensure(ctx: &Ctx, spec: &FunctionSpec, code: &Artifact) -> anyhow::Result<String> {
    let name = &ctx.names.function;
    let label = format!("lambda function {name}");
    let exists = match ctx
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => Some(out),
        Err(e) if is_not_found(&e) => None,
        Err(e) => bail!("failed to read {label}: {}", describe(&e)),
    };
    let environment = Environment::builder()
        .set_variables(Some(spec.env.clone().into_iter().collect()))
        .build();
    let Some(first) = exists else {
        if !ctx.change(
            "create",
            &label,
            format!(
                "(provided.al2023, {} MB, {} s, {})",
                spec.memory,
                spec.timeout,
                spec.arch.as_str()
            ),
        ) {
            return Ok(ctx.function_arn());
        }
        let created = retry_transient(false, || {
            let mut req = ctx
                .lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .role(&spec.role_arn)
                .memory_size(spec.memory)
                .timeout(spec.timeout)
                .architectures(architecture(spec.arch))
                .environment(environment.clone())
                .description("alex document ingest and search")
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(code.zip.clone()))
                        .build(),
                );
            for (k, v) in ctx.tags() {
                req = req.tags(k, v);
            }
            req.send()
        })
        .await;
        return match created {
            Ok(out) => {
                wait_settled(ctx).await?;
                Ok(out.function_arn.unwrap_or_else(|| ctx.function_arn()))
            }
            // Created meanwhile by another run, or a retried create whose first attempt
            // succeeded: converge the existing function instead.
            Err(e) if is(&e, &["ResourceConflictException"]) => {
                Box::pin(ensure(ctx, spec, code)).await
            }
            Err(e) => Err(failed(&format!("create {label}"), &e)),
        };
    };
    let settled = matches!(first.state(), Some(State::Active) | None)
        && !matches!(
            first.last_update_status(),
            Some(LastUpdateStatus::InProgress)
        );
    let config = if settled {
        first
    } else {
        wait_settled(ctx).await?
    };
    let mut diffs = Vec::new();
    if config.runtime() != Some(&Runtime::Providedal2023) {
        diffs.push(format!(
            "runtime: {:?} -> provided.al2023",
            config.runtime().map(|r| r.as_str())
        ));
    }
    if config.handler() != Some("bootstrap") {
        diffs.push("handler -> bootstrap".to_string());
    }
    if config.role() != Some(spec.role_arn.as_str()) {
        diffs.push(format!(
            "role: {} -> {}",
            config.role().unwrap_or("none"),
            spec.role_arn
        ));
    }
    if config.memory_size() != Some(spec.memory) {
        diffs.push(format!(
            "memory: {} -> {} MB",
            config.memory_size().unwrap_or(0),
            spec.memory
        ));
    }
    if config.timeout() != Some(spec.timeout) {
        diffs.push(format!(
            "timeout: {} -> {} s",
            config.timeout().unwrap_or(0),
            spec.timeout
        ));
    }
    let current_env: BTreeMap<String, String> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if current_env != spec.env {
        let changed: Vec<&String> = spec
            .env
            .keys()
            .chain(current_env.keys())
            .filter(|k| spec.env.get(*k) != current_env.get(*k))
            .collect();
        let mut changed: Vec<&String> = changed;
        changed.sort();
        changed.dedup();
        diffs.push(format!(
            "environment: {}",
            changed
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let arch_differs = config.architectures().first() != Some(&architecture(spec.arch));
    if !diffs.is_empty() && ctx.change("update", &label, diffs.join("; ")) {
        retry_transient(true, || {
            ctx.lambda
                .update_function_configuration()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .role(&spec.role_arn)
                .memory_size(spec.memory)
                .timeout(spec.timeout)
                .environment(environment.clone())
                .send()
        })
        .await
        .map_err(|e| failed(&format!("update the configuration of {label}"), &e))?;
        wait_settled(ctx).await?;
    }
    if (config.code_sha256() != Some(code.sha256.as_str()) || arch_differs)
        && ctx.change(
            "update",
            &label,
            format!(
                "code: {} -> {}",
                config.code_sha256().unwrap_or("none"),
                code.sha256
            ),
        )
    {
        retry_transient(true, || {
            ctx.lambda
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(code.zip.clone()))
                .architectures(architecture(spec.arch))
                .send()
        })
        .await
        .map_err(|e| failed(&format!("upload the code of {label}"), &e))?;
        wait_settled(ctx).await?;
    }
    Ok(config.function_arn.unwrap_or_else(|| ctx.function_arn()))
}

/// The function with the stack's name, if any, judged by its tags (GetFunction returns them
/// only to callers allowed `lambda:ListTags`).
pub async fn seen(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let name = &ctx.names.function;
    match ctx.lambda.get_function().function_name(name).send().await {
        Ok(out) => {
            if let Some(err) = out.tags_error() {
                bail!(
                    "could not read the tags of lambda function {name}: {}\nhint: the deploying identity needs lambda:ListTags on it (see deployer/deployer-policy.json)",
                    err.message()
                );
            }
            Ok(vec![Seen::new(ctx, Kind::Function, name, None, out.tags())])
        }
        Err(e) if is_not_found(&e) => Ok(vec![]),
        Err(e) => bail!("failed to read lambda function {name}: {}", describe(&e)),
    }
}

/// Tags the function as the stack's.
pub async fn tag(ctx: &Ctx) -> anyhow::Result<()> {
    let mut req = ctx.lambda.tag_resource().resource(ctx.function_arn());
    for (k, v) in ctx.tags() {
        req = req.tags(k, v);
    }
    req.send().await.map_err(|e| anyhow!(describe(&e)))?;
    Ok(())
}

/// The function's ARN, if it exists.
pub async fn arn(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    match ctx
        .lambda
        .get_function()
        .function_name(&ctx.names.function)
        .send()
        .await
    {
        Ok(out) => Ok(out.configuration.and_then(|c| c.function_arn)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => bail!(
            "failed to read lambda function {}: {}",
            ctx.names.function,
            describe(&e)
        ),
    }
}

/// Deletes the function.
pub async fn delete(ctx: &Ctx) -> anyhow::Result<()> {
    if arn(ctx).await?.is_none() {
        return Ok(());
    }
    ctx.change(
        "delete",
        format!("lambda function {}", ctx.names.function),
        "",
    );
    match ctx
        .lambda
        .delete_function()
        .function_name(&ctx.names.function)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => bail!(
            "failed to delete lambda function {}: {}",
            ctx.names.function,
            describe(&e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::create_function::CreateFunctionError;
    use aws_sdk_lambda::types::error::InvalidParameterValueException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    async fn create_error(
        message: &'static str,
    ) -> aws_smithy_runtime_api::client::result::SdkError<
        CreateFunctionError,
        aws_smithy_runtime_api::http::Response,
    > {
        let rule = mock!(aws_sdk_lambda::Client::create_function).then_error(move || {
            CreateFunctionError::InvalidParameterValueException(
                InvalidParameterValueException::builder()
                    .message(message)
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("InvalidParameterValueException")
                            .message(message)
                            .build(),
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, &[&rule]);
        client
            .create_function()
            .function_name("f")
            .send()
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn role_propagation_is_recognised_by_code_and_message() {
        assert!(role_not_ready(
            &create_error("The role defined for the function cannot be assumed by Lambda.").await
        ));
        assert!(role_not_ready(
            &create_error("Lambda was unable to configure access to your environment variables because the KMS key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: InvalidArnException KMS Message: ARN does not refer to a valid principal: arn:aws:iam::123456789012:role/r").await
        ));
        assert!(!role_not_ready(
            &create_error("Unzipped size must be smaller than 262144000 bytes").await
        ));
    }
}
