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

/// Describes `err` for a user: code and message, or the transport failure.
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
        None => format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(err)
        ),
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
