//! The deployer against the local AWS: fresh `up` checked field by field, a no-op re-run,
//! the original curl command through the local API Gateway, drift → plan → repair, and
//! `down` that keeps the data unless asked.

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn fresh_up_creates_everything_field_by_field_and_a_rerun_changes_nothing() {
    let env = Env::start();
    env.ok(&["up"]);
    let sdk = env.sdk();
    block_on(async {
        assert_eq!(inventory(&sdk).await, ONE_OF_EACH);
        let s3v = aws_sdk_s3vectors::Client::new(&sdk);
        let index = s3v
            .get_index()
            .vector_bucket_name("alex-vectors-123456789012")
            .index_name("financial-research")
            .send()
            .await
            .unwrap()
            .index
            .unwrap();
        assert_eq!(index.dimension, 384);
        assert_eq!(index.distance_metric.as_str(), "cosine");
        assert_eq!(
            index
                .metadata_configuration
                .unwrap()
                .non_filterable_metadata_keys(),
            ["text"]
        );

        let iam = aws_sdk_iam::Client::new(&sdk);
        let role = iam
            .get_role()
            .role_name("alex-ingest-lambda-role")
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        let tags: Vec<(String, String)> = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        assert!(
            tags.contains(&("managed-by".into(), "alex-deployer".into())),
            "{tags:?}"
        );
        let policy = iam
            .get_role_policy()
            .role_name("alex-ingest-lambda-role")
            .policy_name("alex-ingest-policy")
            .send()
            .await
            .unwrap();
        let decoded: Value = serde_json::from_str(&urldecode(&policy.policy_document)).unwrap();
        let resources: Vec<&str> = decoded["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["Resource"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
            })
            .collect();
        assert_eq!(
            resources,
            [
                "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/alex-ingest:*",
                "arn:aws:s3vectors:us-east-1:123456789012:bucket/alex-vectors-123456789012/index/financial-research",
                "arn:aws:sagemaker:us-east-1:123456789012:endpoint/alex-embedding-endpoint",
            ]
        );
        assert!(!policy.policy_document.contains("\"*\""));

        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let group = logs
            .describe_log_groups()
            .log_group_name_prefix("/aws/lambda/alex-ingest")
            .send()
            .await
            .unwrap();
        assert_eq!(group.log_groups()[0].retention_in_days(), Some(7));

        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let f = lambda
            .get_function_configuration()
            .function_name("alex-ingest")
            .send()
            .await
            .unwrap();
        assert_eq!(f.runtime().map(|r| r.as_str()), Some("provided.al2023"));
        assert_eq!(f.handler(), Some("bootstrap"));
        assert_eq!(f.memory_size(), Some(128));
        assert_eq!(
            f.role(),
            Some("arn:aws:iam::123456789012:role/alex-ingest-lambda-role")
        );
        let vars = f.environment().unwrap().variables().unwrap();
        assert_eq!(vars["VECTOR_BUCKET"], "alex-vectors-123456789012");
        assert_eq!(vars["INDEX_NAME"], "financial-research");
        assert_eq!(vars["SAGEMAKER_ENDPOINT"], "alex-embedding-endpoint");
        // Read from the (local) serverless endpoint: 4 MiB answers, MaxConcurrency 2.
        assert_eq!(vars["EMBED_MAX_PAYLOAD_BYTES"], "4194304");
        assert_eq!(vars["EMBED_CONCURRENCY"], "2");
        assert_eq!(vars["TIME_BUDGET_MS"], "28000");
        assert_eq!(f.timeout(), Some(28));

        let apigw = aws_sdk_apigateway::Client::new(&sdk);
        let api = apigw.get_rest_apis().send().await.unwrap().items()[0].clone();
        let api_id = api.id().unwrap();
        assert_eq!(api.tags().unwrap()["stack"], "alex");
        let resources = apigw
            .get_resources()
            .rest_api_id(api_id)
            .send()
            .await
            .unwrap();
        for route in ["/ingest", "/search"] {
            let r = resources
                .items()
                .iter()
                .find(|r| r.path() == Some(route))
                .unwrap();
            let m = apigw
                .get_method()
                .rest_api_id(api_id)
                .resource_id(r.id().unwrap())
                .http_method("POST")
                .send()
                .await
                .unwrap();
            assert_eq!(m.api_key_required(), Some(true));
            let i = m.method_integration().unwrap();
            assert_eq!(i.r#type().unwrap().as_str(), "AWS_PROXY");
            assert!(
                i.uri()
                    .unwrap()
                    .ends_with("function:alex-ingest/invocations")
            );
        }
        // What deletes or re-embeds takes the operator's AWS identity, not the key.
        let delete = resources
            .items()
            .iter()
            .find(|r| r.path() == Some("/documents/delete"))
            .unwrap();
        let m = apigw
            .get_method()
            .rest_api_id(api_id)
            .resource_id(delete.id().unwrap())
            .http_method("POST")
            .send()
            .await
            .unwrap();
        assert_eq!(
            (m.authorization_type(), m.api_key_required()),
            (Some("AWS_IAM"), Some(false))
        );
        apigw
            .get_stage()
            .rest_api_id(api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        let plan = apigw.get_usage_plans().send().await.unwrap().items()[0].clone();
        assert_eq!(plan.api_stages()[0].api_id(), Some(api_id));
        assert_eq!(plan.throttle().unwrap().rate_limit(), 100.0);
        assert_eq!(plan.throttle().unwrap().burst_limit(), 200);
        assert_eq!(plan.quota().unwrap().limit(), 10_000);
        let keys = apigw
            .get_usage_plan_keys()
            .usage_plan_id(plan.id().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(keys.items().len(), 1);
        let policy: Value = serde_json::from_str(
            lambda
                .get_policy()
                .function_name("alex-ingest")
                .send()
                .await
                .unwrap()
                .policy()
                .unwrap(),
        )
        .unwrap();
        let sources: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Condition"]["ArnLike"]["AWS:SourceArn"].as_str().unwrap())
            .collect();
        assert_eq!(
            sources,
            [
                format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/POST/ingest"),
                format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/POST/search"),
                format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/GET/documents"),
                format!(
                    "arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/POST/documents/delete"
                ),
                format!(
                    "arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/POST/documents/reindex"
                ),
                format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/GET/documents/*"),
                format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/DELETE/documents/*"),
            ]
        );
    });

    env.clear_requests();
    env.ok(&["up"]);
    let log = env.requests();
    assert_eq!(log["mutating"], 0, "a re-run must not mutate: {log}");

    // `package` writes exactly what `up` uploads: deploying it with `--zip` changes nothing.
    env.ok(&["package", "--out", "fn.zip"]);
    env.clear_requests();
    env.ok(&["up", "--zip", "fn.zip"]);
    assert_eq!(env.requests()["mutating"], 0);
}

fn urldecode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn the_original_curl_command_works_through_the_local_gateway() {
    let env = Env::start();
    env.ok(&["up"]);
    env.ok(&["output", "--write-env", ".env"]);
    let vars = dotenv(&env);
    assert_eq!(vars["VECTOR_BUCKET"], "alex-vectors-123456789012");
    let endpoint = vars["ALEX_API_ENDPOINT"].clone();
    let key = vars["ALEX_API_KEY"].clone();
    assert!(
        endpoint.ends_with("/prod/_user_request_/ingest"),
        "{endpoint}"
    );
    // The original setup's test command, verbatim.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"curl -s -X POST "$ALEX_API_ENDPOINT" -H "x-api-key: $ALEX_API_KEY" -H "Content-Type: application/json" -d '{"text": "Test document via API", "metadata": {"source": "api_test"}}'"#)
        .env("ALEX_API_ENDPOINT", &endpoint)
        .env("ALEX_API_KEY", &key)
        .output()
        .unwrap();
    let body: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(body["message"], "Document indexed successfully", "{body}");
    let id = body["document_id"].as_str().unwrap().to_string();

    let search = endpoint.replace("/ingest", "/search");
    let (status, found) = env.post(
        &search,
        Some(&key),
        &json!({"query": "test document", "k": 1}).to_string(),
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["results"][0]["document_id"], id.as_str());
    assert_eq!(found["results"][0]["metadata"]["source"], "api_test");

    assert_eq!(
        env.post(&endpoint, None, "{}"),
        (403, json!({"message": "Forbidden"}))
    );
    assert_eq!(env.post(&endpoint, Some("not-the-key"), "{}").0, 403);

    // The CLI clients read the same .env.
    let out = env.ok(&["search", "test document via api", "-k", "1", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"][0]["document_id"], id.as_str());
}

#[test]
fn down_keeps_vector_data_and_up_finds_it_again() {
    let env = Env::start();
    env.ok(&["up"]);
    let samples = testkit::repo_root().join("deployer/samples/documents.jsonl");
    env.ok(&["ingest", samples.to_str().unwrap()]);
    env.ok(&["down"]);
    let sdk = env.sdk();
    let after_down = block_on(inventory(&sdk));
    assert_eq!(
        after_down,
        Inventory {
            buckets: 1,
            indexes: 1,
            ..Inventory {
                rest_apis: 0,
                api_keys: 0,
                usage_plans: 0,
                functions: 0,
                roles: 0,
                log_groups: 0,
                buckets: 0,
                indexes: 0
            }
        }
    );
    let out = env.run(&["output"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: run `deployer up` first"));
    env.ok(&["down"]);

    // A vector as the original Python function stored it (token 0, no embedding marker):
    // adopting the index warns and says how to migrate.
    block_on(async {
        aws_sdk_s3vectors::Client::new(&sdk)
            .put_vectors()
            .vector_bucket_name("alex-vectors-123456789012")
            .index_name("financial-research")
            .vectors(
                aws_sdk_s3vectors::types::PutInputVector::builder()
                    .key("legacy-doc")
                    .data(aws_sdk_s3vectors::types::VectorData::Float32(
                        (0..384).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
                    ))
                    .metadata(aws_smithy_types::Document::Object(
                        [("text".to_string(), "legacy".into())]
                            .into_iter()
                            .collect(),
                    ))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap()
    });
    let up = env.run(&["up"]);
    let err = String::from_utf8_lossy(&up.stderr);
    assert_eq!(up.status.code(), Some(0), "{err}");
    assert!(err.contains("made by another embedding"), "{err}");
    assert!(
        err.contains("hint: `deployer reindex` re-embeds them"),
        "{err}"
    );
    let out = env.ok(&[
        "search",
        "artificial intelligence and GPU computing",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"][0]["metadata"]["ticker"], "NVDA", "{v}");

    env.ok(&["down", "--delete-data", "--yes"]);
    assert_eq!(
        block_on(inventory(&sdk)),
        Inventory {
            rest_apis: 0,
            api_keys: 0,
            usage_plans: 0,
            functions: 0,
            roles: 0,
            log_groups: 0,
            buckets: 0,
            indexes: 0
        }
    );
    let refused = env.run(&["down", "--delete-data"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "no terminal, no --yes: refuse"
    );
}

/// `plan --detailed-exitcode` with `extra` flags exits `code` (stdout shown otherwise).
fn assert_plan_exits(env: &Env, extra: &[&str], code: i32) {
    let mut args = vec!["plan", "--detailed-exitcode"];
    args.extend_from_slice(extra);
    let plan = env.run(&args);
    assert_eq!(
        plan.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}

#[test]
fn drift_is_planned_field_by_field_then_repaired() {
    let env = Env::start();
    env.ok(&["up"]);
    assert_plan_exits(&env, &[], 0);

    let sdk = env.sdk();
    block_on(async {
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        lambda
            .update_function_configuration()
            .function_name("alex-ingest")
            .memory_size(512)
            .send()
            .await
            .unwrap();
        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        logs.put_retention_policy()
            .log_group_name("/aws/lambda/alex-ingest")
            .retention_in_days(30)
            .send()
            .await
            .unwrap();
        let iam = aws_sdk_iam::Client::new(&sdk);
        iam.put_role_policy().role_name("alex-ingest-lambda-role").policy_name("alex-ingest-policy")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#).send().await.unwrap();
        let apigw = aws_sdk_apigateway::Client::new(&sdk);
        let plan = apigw.get_usage_plans().send().await.unwrap().items()[0]
            .id()
            .unwrap()
            .to_string();
        apigw
            .update_usage_plan()
            .usage_plan_id(plan)
            .patch_operations(
                aws_sdk_apigateway::types::PatchOperation::builder()
                    .op(aws_sdk_apigateway::types::Op::Replace)
                    .path("/throttle/rateLimit")
                    .value("5")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        // Stage settings set by hand in the console.
        let api = apigw.get_rest_apis().send().await.unwrap().items()[0]
            .id()
            .unwrap()
            .to_string();
        let op = |op, path: &str, value: &str| {
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(op)
                .path(path)
                .value(value)
                .build()
        };
        use aws_sdk_apigateway::types::Op;
        apigw
            .update_stage()
            .rest_api_id(api)
            .stage_name("prod")
            .patch_operations(op(Op::Replace, "/variables/debug", "1"))
            .patch_operations(op(Op::Replace, "/tracingEnabled", "true"))
            .patch_operations(op(Op::Replace, "/*/*/throttling/rateLimit", "1"))
            .send()
            .await
            .unwrap();
    });
    env.clear_requests();
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    let text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert_eq!(
        plan.status.code(),
        Some(2),
        "{text}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    for expected in [
        "memory: 512 -> 128 MB",
        "retention: 30 d -> 7 d",
        "iam role policy alex-ingest-policy",
        "rate: Some(5.0) -> 100",
        "remove stage variable debug; remove method settings */*; tracing: true -> false",
    ] {
        assert!(text.contains(expected), "plan misses `{expected}`:\n{text}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("update") || l.starts_with("create"))
            .count(),
        5,
        "{text}"
    );
    assert_eq!(env.requests()["mutating"], 0, "plan must not mutate");

    env.ok(&["up"]);
    assert_plan_exits(&env, &[], 0);
    an_operator_route_left_open_is_closed_by_up(&env);

    // The endpoint is redeployed real-time: plan sees it through DescribeEndpointConfig, up
    // gives the function the 6 MiB limit; a flag still wins over what the endpoint says.
    env.aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "profile": "realtime", "max_concurrency": 0}"#),
    );
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("EMBED_MAX_PAYLOAD_BYTES"));
    env.ok(&["up", "--endpoint-max-concurrency", "4"]);
    let sdk = env.sdk();
    let vars = block_on(async {
        aws_sdk_lambda::Client::new(&sdk)
            .get_function_configuration()
            .function_name("alex-ingest")
            .send()
            .await
            .unwrap()
            .environment()
            .and_then(|e| e.variables().cloned())
            .unwrap()
    });
    assert_eq!(vars["EMBED_MAX_PAYLOAD_BYTES"], "6291456");
    assert_eq!(vars["EMBED_CONCURRENCY"], "4");
    assert_eq!(vars["EMBED_PINNED"], "EMBED_CONCURRENCY");
    // The flag sticks: plain `plan` proposes nothing; unpinning goes back to the endpoint's.
    assert_plan_exits(&env, &[], 0);
    assert_plan_exits(&env, &["--unpin-endpoint-settings"], 2);
}

/// A stack deployed before the operator routes existed: `POST /documents/reindex` takes the
/// API key, and the stage serves that. `plan` shows the route's authorization; `up` switches it
/// and redeploys, after which the key alone is refused.
fn an_operator_route_left_open_is_closed_by_up(env: &Env) {
    use aws_sdk_apigateway::types::{Op, PatchOperation};
    let sdk = env.sdk();
    let api = block_on(async {
        let apigw = aws_sdk_apigateway::Client::new(&sdk);
        let api = apigw.get_rest_apis().send().await.unwrap().items()[0]
            .id()
            .unwrap()
            .to_string();
        let resources = apigw
            .get_resources()
            .rest_api_id(&api)
            .send()
            .await
            .unwrap();
        let reindex = resources
            .items()
            .iter()
            .find(|r| r.path() == Some("/documents/reindex"))
            .unwrap();
        let replace = |path: &str, value: &str| {
            PatchOperation::builder()
                .op(Op::Replace)
                .path(path)
                .value(value)
                .build()
        };
        apigw
            .update_method()
            .rest_api_id(&api)
            .resource_id(reindex.id().unwrap())
            .http_method("POST")
            .patch_operations(replace("/authorizationType", "NONE"))
            .patch_operations(replace("/apiKeyRequired", "true"))
            .send()
            .await
            .unwrap();
        apigw
            .create_deployment()
            .rest_api_id(&api)
            .stage_name("prod")
            .description("an older version's definition")
            .send()
            .await
            .unwrap();
        api
    });
    env.ok(&["output", "--write-env", ".env"]);
    let vars = dotenv(env);
    let reindex = vars["ALEX_API_ENDPOINT"].replace("/ingest", "/documents/reindex");
    let key = vars["ALEX_API_KEY"].clone();
    let body = r#"{"segment": 0, "segments": 1}"#;
    assert_eq!(env.post(&reindex, Some(&key), body).0, 200, "open before");
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    let text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert_eq!(plan.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "update  api route POST /documents/reindex authorization: NONE + api key -> AWS_IAM"
        ),
        "{text}"
    );
    assert!(text.contains("api stage prod"), "{text}");
    env.ok(&["up"]);
    assert_plan_exits(env, &[], 0);
    assert_eq!(
        env.post(&reindex, Some(&key), body),
        (403, json!({"message": "Missing Authentication Token"})),
        "closed after up (api {api})"
    );
}

#[test]
fn a_wrong_dimension_is_refused_before_anything_changes() {
    let env = Env::start();
    env.clear_requests();
    let out = env.run(&["up", "--dimension", "768"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("returns 384-dimensional vectors, but the index is 768-dimensional"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        env.requests()["mutating"],
        0,
        "bad input must change nothing"
    );

    env.ok(&["up"]);
    let out = env.run(&[
        "up",
        "--dimension",
        "768",
        "--embedding-endpoint",
        "missing-endpoint",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "exists with dimension 384 and metric cosine, but the stack wants dimension 768"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: could not invoke embedding endpoint missing-endpoint"),
        "{err}"
    );
    assert!(
        !err.contains("update "),
        "checked before anything changes: {err}"
    );
}

/// Makes one untagged resource of every kind under the stack's names, as the original
/// Terraform setup (or anyone else) would have.
fn make_foreign_resources(env: &Env) {
    let sdk = env.sdk();
    block_on(async {
        let s3v = aws_sdk_s3vectors::Client::new(&sdk);
        s3v.create_vector_bucket()
            .vector_bucket_name("alex-vectors-123456789012")
            .send()
            .await
            .unwrap();
    });
    create_foreign_index(env, "financial-research");
    block_on(async {
        let iam = aws_sdk_iam::Client::new(&sdk);
        iam.create_role()
            .role_name("alex-ingest-lambda-role")
            .assume_role_policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        aws_sdk_cloudwatchlogs::Client::new(&sdk)
            .create_log_group()
            .log_group_name("/aws/lambda/alex-ingest")
            .send()
            .await
            .unwrap();
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, b"#!/bin/sh\n").unwrap();
        let code = zip.finish().unwrap().into_inner();
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        // The role is new: wait out IAM propagation as any client must.
        loop {
            let created = lambda
                .create_function()
                .function_name("alex-ingest")
                .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
                .handler("bootstrap")
                .role("arn:aws:iam::123456789012:role/alex-ingest-lambda-role")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(code.clone()))
                        .build(),
                )
                .send()
                .await;
            match created {
                Ok(_) => break,
                Err(e) if format!("{e:?}").contains("cannot be assumed") => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        let apigw = aws_sdk_apigateway::Client::new(&sdk);
        apigw
            .create_rest_api()
            .name("alex-api")
            .send()
            .await
            .unwrap();
        apigw
            .create_api_key()
            .name("alex-api-key")
            .enabled(true)
            .send()
            .await
            .unwrap();
        apigw
            .create_usage_plan()
            .name("alex-usage-plan")
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn foreign_resources_are_refused_left_alone_by_down_and_taken_over_only_with_adopt() {
    let env = Env::start();
    make_foreign_resources(&env);
    let sdk = env.sdk();
    let foreign = block_on(inventory(&sdk));
    assert_eq!(foreign, ONE_OF_EACH);

    env.clear_requests();
    let out = env.run(&["up"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for resource in [
        "vector bucket alex-vectors-123456789012",
        "vector index financial-research",
        "iam role alex-ingest-lambda-role",
        "log group /aws/lambda/alex-ingest",
        "lambda function alex-ingest",
        "rest api alex-api (",
        "api key alex-api-key (",
        "usage plan alex-usage-plan (",
    ] {
        assert!(err.contains(resource), "{resource} missing from:\n{err}");
    }
    assert!(err.contains("hint:") && err.contains("--adopt"), "{err}");
    assert_eq!(
        env.requests()["mutating"],
        0,
        "a refused up changes nothing"
    );

    // down (even with --delete-data) deletes nothing it does not own, and says so.
    let out = env.run(&["down", "--delete-data", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("left alone: iam role alex-ingest-lambda-role"),
        "{err}"
    );
    assert_eq!(env.requests()["mutating"], 0, "{err}");
    assert_eq!(block_on(inventory(&sdk)), ONE_OF_EACH);

    // --adopt takes them over (tags them) and converges them; then they are the stack's.
    env.ok(&["up", "--adopt"]);
    assert_eq!(block_on(inventory(&sdk)), ONE_OF_EACH);
    block_on(async {
        let role = aws_sdk_iam::Client::new(&sdk)
            .get_role()
            .role_name("alex-ingest-lambda-role")
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        assert!(role.tags().iter().any(|t| t.key() == "managed-by"));
        assert_eq!(
            role.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn()),
            Some("arn:aws:iam::123456789012:policy/alex-ingest-boundary")
        );
    });
    assert_plan_exits(&env, &[], 0);
    env.ok(&["down", "--delete-data", "--yes"]);
    let gone = block_on(inventory(&sdk));
    assert_eq!(gone, EMPTY);
}

#[test]
fn hostile_bodies_through_the_strict_local_lambda_stay_under_64_mb() {
    let env = Env::start();
    env.ok(&["up"]);
    env.ok(&["output", "--write-env", ".env"]);
    let vars = dotenv(&env);
    let (url, key) = (&vars["ALEX_API_ENDPOINT"], &vars["ALEX_API_KEY"]);
    // Bodies near 5 MB: API Gateway's 6 MiB event limit counts the body JSON-escaped.
    let many_keys = format!(
        r#"{{"text":"x","metadata":{{{}}}}}"#,
        (0..450_000)
            .map(|i| format!("\"{i:x}\":1"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let deep = format!(
        r#"{{"text":"x","metadata":{{"a":{}{}}}}}"#,
        "[".repeat(2_500_000),
        "]".repeat(2_500_000)
    );
    let giant = format!(r#"{{"text":"{}"}}"#, "word ".repeat(1_100_000));
    let doc = "Quarterly revenue grew on data-centre demand while margins held steady. ".repeat(70);
    let batch =
        json!({"documents": (0..1000).map(|i| json!({"id": format!("doc-{i}"), "text": doc}))
        .collect::<Vec<_>>()})
        .to_string();
    for (name, body, expected) in [
        ("500k metadata keys", &many_keys, &[400][..]),
        ("deep nesting", &deep, &[400]),
        ("one giant string", &giant, &[413]),
        ("1,000-document batch", &batch, &[200, 202]),
    ] {
        assert!(body.len() > 4_000_000, "{name}: {} bytes", body.len());
        let (status, answer) = env.post(url, Some(key), body);
        assert!(expected.contains(&status), "{name}: {status} {answer}");
    }
    let log = std::fs::read_to_string(env.aws.state_dir.join("lambda-alex-ingest.log")).unwrap();
    let peaks: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("Max Memory Used: ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(peaks.len(), 4, "{log}");
    // BENCHMARKS.md quotes these (`-- --nocapture` shows them).
    eprintln!("peak RSS after each hostile body (MB): {peaks:?}");
    assert!(
        peaks.iter().all(|&mb| mb <= 64),
        "peak RSS per invocation (MB): {peaks:?}"
    );
}

#[test]
fn without_the_boundary_the_least_privileged_deployer_stops_and_says_who_must_create_it() {
    let env = Env::start();
    let sdk = env.sdk();
    block_on(async {
        aws_sdk_iam::Client::new(&sdk)
            .delete_policy()
            .policy_arn("arn:aws:iam::123456789012:policy/alex-ingest-boundary")
            .send()
            .await
            .unwrap();
    });
    let out = env.run(&["up"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("may not create it") && err.contains("hint: an administrator creates it once"),
        "{err}"
    );
    assert_eq!(block_on(inventory(&sdk)), EMPTY);
}

#[test]
fn flags_given_to_up_stick_for_plan_up_and_down() {
    let env = Env::start();
    env.ok(&["up", "--timeout", "20", "--memory", "256"]);
    let stored = std::fs::read_to_string(env.dir.join("alex.toml")).unwrap();
    assert!(
        stored.contains("timeout = 20") && stored.contains("memory = 256"),
        "{stored}"
    );
    // Plain plan proposes nothing (it would have proposed 20 -> 28 s before).
    assert_plan_exits(&env, &[], 0);
    // A flag still wins, and a later up keeps what it was not given.
    let plan = env.run(&["plan", "--timeout", "25"]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("20 -> 25 s"));
    env.ok(&["up", "--log-retention-days", "14"]);
    let stored = std::fs::read_to_string(env.dir.join("alex.toml")).unwrap();
    assert!(
        stored.contains("timeout = 20") && stored.contains("log_retention_days = 14"),
        "{stored}"
    );
    // A bad value in the file is refused like the flag.
    std::fs::write(env.dir.join("alex.toml"), "timeout = 300\n").unwrap();
    let out = env.run(&["plan"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
}

#[test]
fn the_cli_ingests_files_by_path_skips_bad_ones_resends_cut_requests_and_spots_a_stale_env() {
    let env = Env::start();
    env.ok(&["up"]);
    env.ok(&["output", "--write-env", ".env"]);
    for (path, text) in [
        (
            "a/notes.md",
            "Tesla builds electric vehicles and battery storage.",
        ),
        (
            "b/notes.md",
            "NVIDIA designs GPUs for data centres and gaming.",
        ),
        ("empty.md", "  \n"),
    ] {
        let path = env.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    // Two files with one name are two documents; the empty one is skipped, not the batch.
    let out = env.run(&["ingest", "a/notes.md", "b/notes.md", "empty.md"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("skipped empty.md: no text in it"), "{err}");
    assert!(err.contains("ingested 2 document(s)"), "{err}");
    for (query, id) in [("electric vehicles", "a/notes.md"), ("GPUs", "b/notes.md")] {
        let v: Value =
            serde_json::from_str(&env.ok(&["search", query, "-k", "1", "--json"])).unwrap();
        assert_eq!(v["results"][0]["document_id"], id, "{v}");
    }

    // API Gateway's cut shortened to 2 s and the endpoint slowed to 3 s a call: the first POST
    // is cut (504) while the function finishes; the re-sent one finds everything stored.
    env.aws.control(
        "POST",
        "config",
        Some(r#"{"apigw_integration_timeout_secs": 2}"#),
    );
    env.aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "latency_ms": 3000}"#),
    );
    std::fs::write(
        env.dir.join("slow.md"),
        "Amazon Web Services sells cloud computing.",
    )
    .unwrap();
    let out = env.run(&["ingest", "slow.md"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("HTTP 504") && err.contains("sending it again"),
        "{err}"
    );
    assert!(err.contains("ingested 1 document(s)"), "{err}");

    // After down and up the API has a new id: the old .env is stale, and search says so.
    env.aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "latency_ms": 0}"#),
    );
    env.ok(&["down"]);
    env.ok(&["up"]);
    let out = env.run(&["search", "cloud"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("run `deployer output --write-env .env`"),
        "{err}"
    );
}

/// A `.env` belongs to the stack it was written for: a command for another stack never answers
/// from it, every API command says which stack and endpoint it used, and after `down` the
/// commands say the stack is not deployed (not a bare 404).
#[test]
fn a_dotenv_serves_only_its_own_stack_and_a_removed_stack_is_named() {
    let env = Env::start();
    env.ok(&["up"]);
    env.ok(&["output", "--write-env", ".env"]);
    // The default stack's .env keeps the original three lines.
    assert!(!dotenv(&env).contains_key("ALEX_STACK"));
    std::fs::write(env.dir.join("n.md"), "Tesla builds electric vehicles.").unwrap();
    let out = env.run(&["ingest", "n.md"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("api     stack `alex`: http://") && err.contains("(from .env)"),
        "{err}"
    );
    assert!(err.contains("(1 chunk)"), "{err}");

    let out = env.run(&["-v", "--name", "fresh", "search", "electric vehicles"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("stack `fresh` is not deployed"), "{err}");
    assert!(
        err.contains("ignored ALEX_API_ENDPOINT from .env (written for stack `alex`"),
        "{err}"
    );
    assert!(err.contains("setting name = fresh (flag)"), "{err}");

    env.ok(&["down"]);
    for args in [
        &["search", "electric vehicles"][..],
        &["ingest", "n.md"][..],
    ] {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("is not stack `alex`'s endpoint any more")
                && err.contains("stack `alex` is not deployed"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn up_dry_run_prints_the_plan_changes_nothing_and_up_prints_the_plan_it_applies() {
    let env = Env::start();
    env.clear_requests();
    let fresh_plan = env.ok(&["plan"]);
    let dry = env.run(&["up", "--dry-run"]);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&dry.stdout), fresh_plan);
    assert!(
        fresh_plan.contains("create  lambda function alex-ingest"),
        "{fresh_plan}"
    );
    assert_eq!(env.requests()["mutating"], 0, "a dry run must not mutate");
    assert!(
        !env.dir.join("alex.toml").exists(),
        "a dry run stores no flags"
    );
    let applied = env.ok(&["up"]);
    assert_eq!(applied, fresh_plan, "up prints the plan it applies");
    assert_eq!(
        env.ok(&["up", "--dry-run"]),
        "No changes: the stack matches the configuration.\n"
    );
}

/// `method path` through the local API Gateway with `key`: the status and body.
fn call(env: &Env, method: &str, url: &str, key: &str, body: &str) -> (u16, String) {
    let path = url.strip_prefix(&env.aws.url).expect("a local invoke URL");
    let headers = [("x-api-key", key), ("Content-Type", "application/json")];
    testkit::http(env.aws.port, method, path, &headers, body).unwrap()
}

#[test]
fn a_search_only_key_searches_and_reads_cannot_write_and_leaves_with_its_flag() {
    let env = Env::start();
    env.ok(&["up", "--search-key"]);
    let stored = std::fs::read_to_string(env.dir.join("alex.toml")).unwrap();
    assert!(stored.contains("search_key = true"), "{stored}");
    // It sticks: a plain plan proposes nothing.
    assert_plan_exits(&env, &[], 0);
    let out: Value = serde_json::from_str(&env.ok(&["output", "--json"])).unwrap();
    let text = |k: &str| {
        out[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}: {out}"))
            .to_string()
    };
    let (ingest, key) = (text("api_endpoint"), text("api_key"));
    let (search_only, reader) = (text("search_only_endpoint"), text("search_only_key"));
    assert_ne!(key, reader);
    assert_ne!(text("rest_api_id"), "");
    let masked = env.ok(&["output"]);
    assert!(
        masked.contains("search_only_key") && !masked.contains(&reader),
        "{masked}"
    );

    let doc = json!({"id": "tsla", "text": "Tesla builds electric vehicles and batteries."});
    let (status, body) = env.post(&ingest, Some(&key), &doc.to_string());
    assert_eq!(status, 200, "{body}");
    let query = json!({"query": "electric cars", "k": 1}).to_string();
    // The search-only key searches, lists and gets, through its own API.
    let (status, found) = env.post(&search_only, Some(&reader), &query);
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["results"][0]["document_id"], "tsla");
    let base = search_only.strip_suffix("/search").unwrap();
    for path in ["/documents", "/documents/tsla"] {
        let (status, body) = call(&env, "GET", &format!("{base}{path}"), &reader, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(body.contains("tsla"), "GET {path}: {body}");
    }
    // It cannot ingest or delete: its API has no such routes, and the main API does not
    // take it.
    let main_base = ingest.strip_suffix("/ingest").unwrap();
    let refused = [
        ("POST", format!("{base}/ingest"), doc.to_string()),
        ("DELETE", format!("{base}/documents/tsla"), String::new()),
        ("POST", format!("{base}/documents/delete"), "{}".into()),
        ("POST", format!("{main_base}/ingest"), doc.to_string()),
        ("POST", format!("{main_base}/search"), query.clone()),
        ("GET", format!("{main_base}/documents"), String::new()),
    ];
    for (method, url, body) in &refused {
        let (status, answer) = call(&env, method, url, &reader, body);
        assert_eq!(
            status, 403,
            "{method} {url} with the search-only key: {answer}"
        );
    }
    // Nor does the search-only API take the main key (it is in another usage plan).
    assert_eq!(env.post(&search_only, Some(&key), &query).0, 403);
    assert_eq!(
        env.ok(&["documents", "list"]).lines().collect::<Vec<_>>(),
        ["tsla"]
    );

    // Turned off: the plan names what goes, `up` removes it, and the key stops working.
    let plan = env.run(&["plan", "--search-key=false"]);
    let plan_text = String::from_utf8_lossy(&plan.stdout).to_string();
    for gone in [
        "delete  usage plan alex-search-usage-plan",
        "delete  api key alex-search-key",
        "delete  rest api alex-search-api",
        "delete  lambda permission alex-search-apigateway-search",
    ] {
        assert!(plan_text.contains(gone), "{gone}:\n{plan_text}");
    }
    assert!(!plan_text.contains("alex-api "), "{plan_text}");
    env.ok(&["up", "--search-key=false"]);
    let stored = std::fs::read_to_string(env.dir.join("alex.toml")).unwrap();
    assert!(stored.contains("search_key = false"), "{stored}");
    assert_plan_exits(&env, &[], 0);
    let out: Value = serde_json::from_str(&env.ok(&["output", "--json"])).unwrap();
    assert!(out.get("search_only_endpoint").is_none(), "{out}");
    // Its API is gone (the local gateway answers 404 for an unknown API id).
    let (status, _) = env.post(&search_only, Some(&reader), &query);
    assert!(matches!(status, 403 | 404), "{status}");
    assert_eq!(
        env.post(&ingest.replace("/ingest", "/search"), Some(&key), &query)
            .0,
        200
    );
    let sdk = env.sdk();
    let policy = block_on(async {
        aws_sdk_lambda::Client::new(&sdk)
            .get_policy()
            .function_name("alex-ingest")
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .to_string()
    });
    assert!(!policy.contains("alex-search-apigateway"), "{policy}");
    assert!(policy.contains("alex-apigateway-search"), "{policy}");

    // Back on, then `down`: the search-only API, key and plan go with the rest.
    env.ok(&["up", "--search-key"]);
    env.ok(&["down"]);
    let left = block_on(async {
        let apigw = aws_sdk_apigateway::Client::new(&sdk);
        let apis = apigw.get_rest_apis().send().await.unwrap();
        let keys = apigw.get_api_keys().send().await.unwrap();
        let plans = apigw.get_usage_plans().send().await.unwrap();
        let names = apis.items().iter().filter_map(|a| a.name());
        let names = names.chain(keys.items().iter().filter_map(|k| k.name()));
        names
            .chain(plans.items().iter().filter_map(|p| p.name()))
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    assert!(left.is_empty(), "{left:?}");
}
