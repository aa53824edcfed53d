//! Waiting for the function to settle, and retrying what IAM propagation and in-progress
//! updates make transient.

use crate::aws_error::{describe, is, message};
use crate::context::Ctx;
use anyhow::{anyhow, bail};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::{LastUpdateStatus, State};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::{Duration, Instant};

/// How long to wait for a new role to become assumable (Terraform waits 5 minutes).
const ROLE_PROPAGATION_BUDGET: Duration = Duration::from_secs(300);
/// How long to wait for the function to settle after a change.
const SETTLE_BUDGET: Duration = Duration::from_secs(300);

/// Whether `err` is one of the two errors a role too new for IAM to have propagated causes
/// (code *and* message): the role "cannot be assumed by Lambda", or the KMS grant for the
/// function's environment variables fails ("KMS key is invalid for CreateGrant"). Terraform's
/// AWS provider retries both for the same reason.
pub fn role_not_ready<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    let text = message(err);
    is(err, &["InvalidParameterValueException"])
        && (text.contains("cannot be assumed by Lambda")
            || text.contains("KMS key is invalid for CreateGrant"))
}

/// Whether a configuration as read is still changing.
pub fn is_settled(config: &GetFunctionConfigurationOutput) -> bool {
    matches!(config.state(), Some(State::Active) | None)
        && !matches!(
            config.last_update_status(),
            Some(LastUpdateStatus::InProgress)
        )
}

/// Waits until the function is Active and no update is in progress; returns its configuration.
pub async fn wait_settled(ctx: &Ctx) -> anyhow::Result<GetFunctionConfigurationOutput> {
    let name = &ctx.names.function;
    let started = Instant::now();
    let spinner = ctx
        .printer
        .spinner(&format!("waiting for lambda function {name}"));
    let mut delay = Duration::from_millis(100);
    loop {
        let out = ctx
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| anyhow!("failed to read lambda function {name}: {}", describe(&e)))?;
        if out.state() == Some(&State::Failed) {
            bail!(
                "lambda function {name} failed to become active: {}",
                out.state_reason().unwrap_or("no reason given")
            );
        }
        if out.last_update_status() == Some(&LastUpdateStatus::Failed) {
            bail!(
                "the last update of lambda function {name} failed: {}",
                out.last_update_status_reason().unwrap_or("no reason given")
            );
        }
        if out.state() != Some(&State::Pending)
            && out.last_update_status() != Some(&LastUpdateStatus::InProgress)
        {
            if let Some(s) = spinner {
                s.finish_and_clear();
            }
            return Ok(out);
        }
        if started.elapsed() > SETTLE_BUDGET {
            bail!("lambda function {name} did not settle within 5 minutes");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

type LambdaResult<T, E> = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>;

/// Which of Lambda's transient refusals [`retry_transient`] waits out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// The role is not assumable yet (IAM propagation).
    RoleNotReady,
    /// That, or another update of the function is in progress (`ResourceConflictException`).
    RoleNotReadyOrUpdating,
}

/// Runs `op` again while Lambda answers one of the `transient` refusals; returns the last SDK
/// error otherwise.
pub async fn retry_transient<T, E, F, Fut>(transient: Transient, mut op: F) -> LambdaResult<T, E>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = LambdaResult<T, E>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match op().await {
            Err(e)
                if (role_not_ready(&e)
                    || (transient == Transient::RoleNotReadyOrUpdating
                        && is(&e, &["ResourceConflictException"])))
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

/// `failed to {what}: …`, with a hint when the role is too new.
pub fn failed<E, R>(what: &str, e: &SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let hint = if role_not_ready(e) {
        "\nhint: the role was created moments ago; run the command again in a minute"
    } else {
        ""
    };
    anyhow!("failed to {what}: {}{hint}", describe(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::create_function::CreateFunctionError;
    use aws_sdk_lambda::types::error::InvalidParameterValueException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    async fn create_error(
        message: &'static str,
    ) -> SdkError<CreateFunctionError, aws_smithy_runtime_api::http::Response> {
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
