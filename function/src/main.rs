//! Lambda entry point: JSON logs, then the configuration and SDK clients built once into the
//! [`App`] the runtime hands every request.

use function::aws::AwsBackend;
use function::backend::Backend;
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
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(problem) => {
            tracing::error!(problem = %problem, "function is misconfigured; every request will answer 500");
            return serve(App::misconfigured(problem)).await;
        }
    };
    // Every call is bounded: a connection in 3 s, an attempt in 20 s (a serverless endpoint's
    // cold start), the whole call with retries in 26 s (API Gateway cuts at 29 s); handlers
    // also cut work at the request's own deadline.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(26))
        .build();
    // TLS is rustls on *ring* (no aws-lc-sys C build; a smaller binary).
    let https = {
        use aws_smithy_http_client::tls;
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https()
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(timeouts)
        .load()
        .await;
    let backend = AwsBackend::new(&sdk, &config);
    let mirror = (config.mirror.clone())
        .map(|index| backend.for_mirror(index, config.mirror_endpoint.clone()));
    let app = App::new(backend, Ok(config));
    serve(match mirror {
        Some(mirror) => app.with_mirror(mirror),
        None => app,
    })
    .await
}

async fn serve<B: Backend>(app: App<B>) -> Result<(), Error> {
    let app = &app;
    lambda_http::run(service_fn(move |req| handle(app, req))).await
}
