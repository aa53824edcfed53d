//! Decisions on SDK errors by the service error's code (never by display text), and retries
//! that honour `Retry-After` for the control-plane quotas the SDK's default retry gives up on.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Duration;

/// The service error code of `err`, if it is a service error.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// The service error message of `err`.
pub fn message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> &str {
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or("")
}

/// Whether `err` is a service error with one of `codes`.
pub fn is<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    code(err).is_some_and(|c| codes.contains(&c))
}

/// Not-found error codes across the services used.
pub const NOT_FOUND: &[&str] = &[
    "NotFoundException",
    "NoSuchEntity",
    "ResourceNotFoundException",
];

/// Whether `err` means "does not exist".
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    is(err, NOT_FOUND)
}

/// Why a request never got a service answer, in one line: the kind of failure and its
/// innermost cause (`could not connect: Connection refused (os error 111)`).
pub fn transport_cause<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let kind = match err {
        SdkError::ConstructionFailure(_) => "the request could not be made",
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not connect",
        SdkError::ResponseError(_) => "the answer could not be read",
        _ => "failed",
    };
    let mut inner: &dyn std::error::Error = err;
    while let Some(next) = inner.source() {
        inner = next;
    }
    format!("{kind}: {inner}")
}

/// Whether the request never got a service answer because no credentials were found.
pub fn is_missing_credentials<E, R>(err: &SdkError<E, R>) -> bool
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    matches!(err, SdkError::ConstructionFailure(_))
        && transport_cause(err)
            .to_ascii_lowercase()
            .contains("credential")
}

/// Describes `err` for a user: code and message, or the transport failure in one line.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => format!(
            "{}: {}",
            e.code().unwrap_or("Unknown"),
            e.message().unwrap_or("")
        ),
        None => transport_cause(err),
    }
}

/// Seconds from a 429's `Retry-After` header.
fn retry_after<E, R>(err: &SdkError<E, R>) -> Option<u64>
where
    R: HttpHeaders,
{
    err.raw_response().and_then(HttpHeaders::retry_after)
}

/// Access to a raw response's `Retry-After`.
pub trait HttpHeaders {
    /// Seconds, if present.
    fn retry_after(&self) -> Option<u64>;
}

impl HttpHeaders for aws_smithy_runtime_api::http::Response {
    fn retry_after(&self) -> Option<u64> {
        self.headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Runs `op` again while it fails with a throttling code, waiting `Retry-After` (or a backoff)
/// each time, for up to `budget` in total. API Gateway's account quotas (DeleteRestApi 1 per
/// 30 s, UpdateUsagePlan 1 per 20 s) outlast the SDK's own retry.
pub async fn with_quota_retry<T, E, F, Fut>(
    budget: Duration,
    mut op: F,
) -> Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
{
    let started = std::time::Instant::now();
    let mut backoff = Duration::from_millis(500);
    loop {
        match op().await {
            Err(err)
                if is(
                    &err,
                    &[
                        "TooManyRequestsException",
                        "ThrottlingException",
                        "Throttling",
                    ],
                ) =>
            {
                let wait = retry_after(&err)
                    .map(Duration::from_secs)
                    .unwrap_or(backoff);
                if started.elapsed() + wait > budget {
                    return Err(err);
                }
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    "throttled by a service quota; waiting"
                );
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigateway::operation::delete_rest_api::{DeleteRestApiError, DeleteRestApiOutput};
    use aws_sdk_apigateway::types::error::NotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// Isolates `with_quota_retry` from the SDK's own retry.
    fn no_sdk_retry(c: aws_sdk_apigateway::config::Builder) -> aws_sdk_apigateway::config::Builder {
        c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
    }

    fn throttled(retry_after: &str) -> aws_smithy_runtime_api::http::Response {
        let mut resp = aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(429).unwrap(),
            SdkBody::from(r#"{"message":"Too Many Requests"}"#),
        );
        resp.headers_mut()
            .insert("x-amzn-ErrorType", "TooManyRequestsException");
        resp.headers_mut()
            .insert("Retry-After", retry_after.to_string());
        resp.headers_mut()
            .insert("Content-Type", "application/json");
        resp
    }

    #[tokio::test]
    async fn quota_retry_waits_retry_after_then_succeeds() {
        let limited = mock!(aws_sdk_apigateway::Client::delete_rest_api)
            .then_http_response(|| throttled("1"));
        let ok = mock!(aws_sdk_apigateway::Client::delete_rest_api)
            .then_output(|| DeleteRestApiOutput::builder().build());
        let client = mock_client!(
            aws_sdk_apigateway,
            RuleMode::Sequential,
            &[&limited, &ok],
            no_sdk_retry
        );
        let started = std::time::Instant::now();
        let out = with_quota_retry(Duration::from_secs(10), || {
            client.delete_rest_api().rest_api_id("a").send()
        })
        .await;
        assert!(out.is_ok(), "{out:?}");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After honoured"
        );
        assert_eq!(limited.num_calls(), 1);
        assert_eq!(ok.num_calls(), 1);
    }

    #[tokio::test]
    async fn quota_retry_gives_up_past_its_budget() {
        let limited = mock!(aws_sdk_apigateway::Client::delete_rest_api)
            .then_http_response(|| throttled("30"));
        let client = mock_client!(
            aws_sdk_apigateway,
            RuleMode::Sequential,
            &[&limited],
            no_sdk_retry
        );
        let out = with_quota_retry(Duration::from_secs(5), || {
            client.delete_rest_api().rest_api_id("a").send()
        })
        .await;
        let err = out.unwrap_err();
        assert_eq!(code(&err), Some("TooManyRequestsException"));
        assert_eq!(
            limited.num_calls(),
            1,
            "a 30 s wait does not fit a 5 s budget"
        );
    }

    #[tokio::test]
    async fn not_found_is_decided_by_code() {
        let missing = mock!(aws_sdk_apigateway::Client::delete_rest_api).then_error(|| {
            let msg = "Invalid API identifier specified";
            DeleteRestApiError::NotFoundException(
                NotFoundException::builder()
                    .message(msg)
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("NotFoundException")
                            .message(msg)
                            .build(),
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_apigateway, RuleMode::Sequential, &[&missing]);
        let err = client
            .delete_rest_api()
            .rest_api_id("a")
            .send()
            .await
            .unwrap_err();
        assert!(is_not_found(&err));
        assert!(!is(&err, &["ConflictException"]));
        assert_eq!(
            describe(&err),
            "NotFoundException: Invalid API identifier specified"
        );
    }
}
