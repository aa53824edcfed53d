//! Against a local endpoint deployed with the Text Embeddings Inference container (pooled answers,
//! ~8 KB an input). Its own test binary: the function remembers the answer shape per process.

mod common;

use common::local::*;
use serde_json::json;
use testkit::LocalAws;

#[test]
fn a_pooled_endpoint_gets_few_large_batches_and_the_same_ranking() {
    let aws = LocalAws::start(&[]);
    aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "task": "tei"}"#),
    );
    runtime().block_on(async {
        let (app, s3v) = setup(&aws).await;
        let text: String = (0..400)
            .map(|i| {
                format!(
                    "Quarter {i} results showed steady revenue growth across the retail segment. "
                )
            })
            .collect::<String>()
            + "The lighthouse keeper's parrot recites maritime poetry at dawn.";
        let (s, body) = post(&app, "/ingest", json!({"text": text, "id": "pooled"})).await;
        assert_eq!(s, 200, "{body}");
        let chunks = body["chunks"].as_u64().unwrap();
        assert_eq!(keys(&s3v).await.len() as u64, chunks);
        let calls = invocations(&aws);
        // The first call goes alone and shows the shape; then up to 32 inputs a call.
        assert!(
            calls.len() as u64 <= 1 + chunks.div_ceil(32),
            "{} calls for {chunks} chunks",
            calls.len()
        );
        assert!(
            calls
                .iter()
                .all(|c| c["answer_bytes"].as_u64().unwrap() < 400_000)
        );
        let (_, found) = post(
            &app,
            "/search",
            json!({"query": "a parrot reciting poems about the sea", "k": 1}),
        )
        .await;
        assert!(
            found["results"][0]["text"]
                .as_str()
                .unwrap()
                .contains("parrot"),
            "{found}"
        );
    });
}
