//! Lambda entry point: JSON logs, configuration and SDK clients built once, then the runtime.

use function::aws::AwsBackend;
use function::config::Config;
use function::handler::{App, handle};
use lambda_http::{Error, service_fn};

// One request at a time per execution environment, and at 128 MB ~7% of a core: a
// single-threaded runtime avoids cross-thread wake-ups (a third of the CPU per request
// when profiled with the multi-threaded one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_target(false)
        .init();
    let config = Config::from_lookup(|k| std::env::var(k).ok());
    if let Err(problem) = &config {
        tracing::error!(problem = %problem, "function is misconfigured; every request will answer 500");
    }
    // Every call is bounded: a connection in 3 s, an attempt in 20 s (a serverless endpoint's
    // cold start), the whole call with retries in 26 s (API Gateway cuts at 29 s); handlers
    // also cut work at the request's own deadline.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(26))
        .build();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    let app = App {
        backend: AwsBackend::new(&sdk, config.as_ref().ok()),
        config,
    };
    let app = &app;
    lambda_http::run(service_fn(move |req| handle(app, req))).await
}
