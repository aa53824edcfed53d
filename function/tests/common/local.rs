//! Helpers for tests against the local AWS: the bucket and index the deployer creates, the
//! app over them, calls through the handler, and the endpoint's call log.

use super::rest_event;
use function::aws::AwsBackend;
use function::config::Config;
use function::handler::App;
use serde_json::Value;
use shared::chunk::ChunkConfig;
use testkit::LocalAws;

pub const BUCKET: &str = "alex-vectors-123456789012";
pub const INDEX: &str = "financial-research";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub async fn sdk(aws: &LocalAws) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .endpoint_url(&aws.url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3vectors::config::Credentials::new(
            "AKIDLOCAL",
            "secret",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

/// Creates the bucket and index the deployer creates, and the app over them.
pub async fn setup(aws: &LocalAws) -> (App<AwsBackend>, aws_sdk_s3vectors::Client) {
    let sdk = sdk(aws).await;
    let s3v = aws_sdk_s3vectors::Client::new(&sdk);
    s3v.create_vector_bucket()
        .vector_bucket_name(BUCKET)
        .send()
        .await
        .unwrap();
    s3v.create_index()
        .vector_bucket_name(BUCKET)
        .index_name(INDEX)
        .data_type(aws_sdk_s3vectors::types::DataType::Float32)
        .dimension(384)
        .distance_metric(aws_sdk_s3vectors::types::DistanceMetric::Cosine)
        .metadata_configuration(
            aws_sdk_s3vectors::types::MetadataConfiguration::builder()
                .non_filterable_metadata_keys("text")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let config = Config {
        bucket: BUCKET.parse().unwrap(),
        index: INDEX.parse().unwrap(),
        mirror: None,
        mirror_endpoint: None,
        mirror_dimension: 384,
        endpoint: "alex-embedding-endpoint".parse().unwrap(),
        dimension: 384,
        chunk: ChunkConfig::default(),
        embed_batch_size: 32,
        embed_concurrency: 2,
        embed_max_payload: 4 * 1024 * 1024,
        time_budget_ms: 29_000,
        deadline_margin_ms: 2_500,
    };
    let app = App::new(AwsBackend::new(&sdk, &config), Ok(config));
    (app, s3v)
}

pub async fn keys(s3v: &aws_sdk_s3vectors::Client) -> Vec<String> {
    let out = s3v
        .list_vectors()
        .vector_bucket_name(BUCKET)
        .index_name(INDEX)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = out.vectors.into_iter().map(|v| v.key).collect();
    keys.sort();
    keys
}

pub async fn post<B: function::backend::Backend>(
    app: &App<B>,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let (s, b, _) = call_any(app, rest_event("POST", path, &body.to_string())).await;
    (s, b)
}

pub async fn call_any<B: function::backend::Backend>(
    app: &App<B>,
    req: lambda_http::Request,
) -> (u16, Value, lambda_http::Response<lambda_http::Body>) {
    let resp = function::handler::handle(app, req).await.unwrap();
    let status = resp.status().as_u16();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    };
    (status, body, resp)
}

/// The InvokeEndpoint calls in the local AWS's request log; each is checked against the
/// serverless endpoint's limits.
pub fn invocations(aws: &LocalAws) -> Vec<Value> {
    let log: Value = serde_json::from_str(&aws.requests_json()).unwrap();
    let calls: Vec<Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["operation"] == "InvokeEndpoint")
        .cloned()
        .collect();
    for c in &calls {
        assert!(
            c["answer_bytes"].as_u64().unwrap_or(0) <= 4 * 1024 * 1024,
            "{c}"
        );
        for t in c["tokens"].as_array().into_iter().flatten() {
            assert!(t.as_u64().unwrap() <= 256, "{c}");
        }
    }
    calls
}
