//! The function's logic against the local AWS: real MiniLM embeddings from the local SageMaker
//! endpoint, real S3 Vectors semantics (limits, filters, non-filterable `text`).

mod common;

use common::local::*;
use common::rest_event;
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::chunk::ChunkConfig;
use testkit::LocalAws;

#[test]
fn original_documents_rank_the_right_company_first() {
    let aws = LocalAws::start(&[]);
    runtime().block_on(async {
        let (app, _) = setup(&aws).await;
        let docs: Vec<Value> = include_str!("../../deployer/samples/documents.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for doc in &docs {
            let mut doc = doc.clone();
            doc.as_object_mut().unwrap().remove("id");
            let (s, body) = post(&app, "/ingest", doc).await;
            assert_eq!(s, 200, "{body}");
            assert_eq!(body["message"], "Document indexed successfully");
        }
        for (query, ticker) in [
            ("electric vehicles and sustainable transportation", "TSLA"),
            ("cloud computing and AWS services", "AMZN"),
            ("artificial intelligence and GPU computing", "NVDA"),
        ] {
            let (s, body) = post(&app, "/search", json!({"query": query, "k": 3})).await;
            assert_eq!(s, 200, "{body}");
            assert_eq!(body["count"], 3);
            assert_eq!(
                body["results"][0]["metadata"]["ticker"], ticker,
                "{query}: {body}"
            );
            let top = body["results"][0]["score"].as_f64().unwrap();
            let second = body["results"][1]["score"].as_f64().unwrap();
            assert!(top > second && top <= 1.0, "{body}");
        }
        let (_, body) = post(
            &app,
            "/search",
            json!({"query": "GPU", "filter": {"sector": "Automotive"}}),
        )
        .await;
        assert_eq!(body["count"], 1);
        assert_eq!(body["results"][0]["metadata"]["ticker"], "TSLA");
    });
}

#[test]
fn a_20kb_document_is_chunked_found_and_replaced_without_stale_chunks() {
    let aws = LocalAws::start(&[]);
    runtime().block_on(async {
        let (app, s3v) = setup(&aws).await;
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 20 * 1024 {
            text.push_str(&format!(
                "Quarter {i} results showed steady revenue growth across the retail segment and stable margins. "
            ));
            if i == 90 {
                text.push_str("The lighthouse keeper's parrot recites maritime poetry at dawn. ");
            }
            i += 1;
        }
        let (s, body) = post(&app, "/ingest", json!({"text": text, "id": "big", "metadata": {"source": "report"}})).await;
        assert_eq!(s, 200, "{body}");
        let chunks = body["chunks"].as_u64().unwrap() as usize;
        assert!(chunks >= 10, "{chunks}");
        assert_eq!(keys(&s3v).await.len(), chunks);
        // Under the serverless endpoint's limits: every answer ≤ 4 MiB, every input ≤ 256 tokens.
        let calls = invocations(&aws);
        assert!(calls.iter().all(|c| c["status"] == 200), "{calls:?}");
        assert_eq!(calls.iter().map(|c| c["inputs"].as_u64().unwrap()).sum::<u64>(), chunks as u64);
        let (_, found) = post(&app, "/search", json!({"query": "a parrot reciting poems about the sea", "k": 1})).await;
        assert_eq!(found["results"][0]["document_id"], "big");
        assert!(found["results"][0]["text"].as_str().unwrap().contains("parrot"), "{found}");

        let (s, _) = post(&app, "/ingest", json!({"text": "A much shorter replacement.", "id": "big"})).await;
        assert_eq!(s, 200);
        assert_eq!(keys(&s3v).await, vec!["big#0".to_string()]);
    });
}

#[test]
fn a_cjk_document_too_big_for_one_call_completes_over_several_with_exact_token_counts() {
    let aws = LocalAws::start(&[]);
    runtime().block_on(async {
        let (mut app, s3v) = setup(&aws).await;
        // A short budget (instead of 29 s) so this ~40-chunk document needs several calls.
        if let Ok(config) = app.config.as_mut() {
            config.time_budget_ms = 3_000;
            config.deadline_margin_ms = 500;
        }
        let text = "東京証券取引所の株価は本日、半導体関連銘柄を中心に大きく上昇した。".repeat(320);
        let body = json!({"text": text, "id": "tokyo"});
        let mut rounds = 0;
        let done = loop {
            rounds += 1;
            assert!(rounds < 30, "no end in sight");
            let (s, answer) = post(&app, "/ingest", body.clone()).await;
            match s {
                202 => assert!(answer["chunks_done"].as_u64() < answer["chunks_total"].as_u64()),
                200 => break answer,
                _ => panic!("{s} {answer}"),
            }
        };
        assert!(rounds >= 2, "one call was enough");
        let chunks = shared::chunk::chunk_text(&text, ChunkConfig::default()).unwrap();
        assert_eq!(done["chunks"].as_u64().unwrap() as usize, chunks.len());
        assert_eq!(keys(&s3v).await.len(), chunks.len());
        // The endpoint counted exactly the tokens we counted, and stored chunks were never
        // embedded again: the only extra inputs are calls cut at a deadline (at most the
        // calls in flight, 2, per round), whose answers were never used.
        let mut counted: Vec<u64> = invocations(&aws)
            .iter()
            .filter(|c| c["status"] == 200)
            .flat_map(|c| c["tokens"].as_array().cloned().unwrap_or_default())
            .map(|t| t.as_u64().unwrap())
            .collect();
        for c in &chunks {
            let at = counted.iter().position(|&t| t == c.tokens as u64);
            assert!(
                at.is_some(),
                "a chunk of {} tokens was never embedded",
                c.tokens
            );
            counted.swap_remove(at.unwrap_or(0));
        }
        assert!(
            counted.len() <= 2 * rounds,
            "{} extra inputs over {rounds} rounds",
            counted.len()
        );
        let (_, found) = post(&app, "/search", json!({"query": "半導体の株価", "k": 1})).await;
        assert_eq!(found["results"][0]["document_id"], "tokyo");
    });
}

fn hostile() -> impl Strategy<Value = (String, bool)> {
    let bodies = prop_oneof![
        "\\PC{0,80}",
        Just(json!({"text": "t", "metadata": {"text": "override"}}).to_string()),
        Just(json!({"text": "t", "metadata": {"big": "x".repeat(2100)}}).to_string()),
        Just(json!({"documents": [{"text": "ok"}, {"text": ""}]}).to_string()),
        ("[a-z]{1,8}", any::<i64>())
            .prop_map(|(k, v)| json!({"text": "t", "metadata": {k: [v]}}).to_string()),
        (-10i64..0).prop_map(|k| json!({"query": "q", "k": k}).to_string()),
        Just(json!({"query": "q", "filter": {"text": {"$eq": "x"}}}).to_string()),
        Just(json!({"query": "q", "filter": {"ticker": {"$regex": "x"}}}).to_string()),
    ];
    (bodies, any::<bool>())
}

#[test]
fn hostile_requests_get_4xx_and_write_nothing() {
    let aws = LocalAws::start(&[]);
    let rt = runtime();
    let (app, s3v) = rt.block_on(setup(&aws));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 120,
        ..ProptestConfig::default()
    });
    runner
        .run(&hostile(), |(body, search)| {
            let path = if search { "/search" } else { "/ingest" };
            let (status, resp, _) = rt.block_on(call_any(&app, rest_event("POST", path, &body)));
            prop_assert!(
                (400..500).contains(&status),
                "{} for {:?}: {}",
                status,
                body,
                resp
            );
            Ok(())
        })
        .unwrap();
    assert!(rt.block_on(keys(&s3v)).is_empty());
    let log = aws.requests_json();
    assert!(!log.contains("\"PutVectors\""), "{log}");
}

/// The document protocol through real S3 Vectors emulation: strays without a head are found
/// and deleted, a shorter version leaves nothing of the longer one, filters compare numbers
/// by value, and an empty filter deletes nothing.
#[test]
fn strays_shorter_versions_and_filters_through_the_local_aws() {
    let aws = LocalAws::start(&[]);
    runtime().block_on(async {
        let (app, s3v) = setup(&aws).await;
        let long: String = (0..400)
            .map(|i| format!("Quarter {i} revenue grew in the retail segment. "))
            .collect();
        let ingest = |id: &str, text: &str, v: f64| {
            post(
                &app,
                "/ingest",
                json!({"id": id, "text": text, "metadata": {"v": v}}),
            )
        };
        let (s, body) = ingest("d", &long, 1.0).await;
        assert_eq!(s, 200, "{body}");
        let n = body["chunks"].as_u64().unwrap() as usize;
        assert!(n > 3, "{n}");
        let (s, body) = ingest("d", "Now one short chunk.", 1.0).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(keys(&s3v).await, ["d#0"]);
        // The long version again, then its head lost (an interrupted delete): strays only.
        assert_eq!(ingest("d", &long, 2.0).await.0, 200);
        s3v.delete_vectors()
            .vector_bucket_name(BUCKET)
            .index_name(INDEX)
            .keys("d#0")
            .send()
            .await
            .unwrap();
        let (s, body, _) = call_any(&app, rest_event("GET", "/documents/d", "")).await;
        assert_eq!(s, 404, "no head, no document: {body}");
        let (s, body, _) = call_any(&app, rest_event("DELETE", "/documents/d", "")).await;
        assert_eq!(
            (s, body["deleted_chunks"].clone()),
            (200, json!(n - 1)),
            "{body}"
        );
        assert!(keys(&s3v).await.is_empty());
        // Filters: numbers by value; `{}` is refused and deletes nothing.
        assert_eq!(ingest("y", "Results of the year.", 2024.0).await.0, 200);
        let (s, body) = post(&app, "/documents/delete", json!({"filter": {}})).await;
        assert_eq!(s, 400, "{body}");
        let (s, body) = post(
            &app,
            "/documents/delete",
            json!({"filter": {"v": {"$ne": 2024}}}),
        )
        .await;
        assert_eq!(
            (s, body["deleted_documents"].clone()),
            (200, json!(0)),
            "{body}"
        );
        let (s, body) = post(
            &app,
            "/documents/delete",
            json!({"filter": {"v": {"$in": [2024]}}}),
        )
        .await;
        assert_eq!(
            (s, body["document_ids"].clone()),
            (200, json!(["y"])),
            "{body}"
        );
        assert!(keys(&s3v).await.is_empty());
    });
}

/// A serverless endpoint that idled scales to zero: the first call waits for its cold start,
/// calls meanwhile get `ModelNotReadyException`. Neither is an error: a request whose budget
/// ends first answers 503 `EndpointStarting` with `Retry-After` and changes nothing, and the
/// same request sent again once the endpoint is up is stored; concurrent requests during the
/// start back off inside their deadline and succeed.
#[test]
fn a_cold_endpoint_is_a_retryable_503_and_the_retry_is_stored() {
    let aws = LocalAws::start(&[]);
    aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "cold_start_ms": 4000}"#),
    );
    runtime().block_on(async {
        let (mut app, s3v) = setup(&aws).await;
        let config = app.config.as_mut().unwrap();
        config.time_budget_ms = 2_500;
        config.deadline_margin_ms = 500;
        let doc = json!({"text": "Quarterly revenue grew on strong cloud demand.", "id": "cold"});
        let started = std::time::Instant::now();
        let (s, body, resp) = call_any(&app, rest_event("POST", "/ingest", &doc.to_string())).await;
        assert_eq!(s, 503, "{body}");
        assert_eq!(body["code"], "EndpointStarting", "{body}");
        assert!(resp.headers().contains_key("retry-after"));
        assert!(started.elapsed() < std::time::Duration::from_millis(2_500));
        assert!(keys(&s3v).await.is_empty());
        // Sent again while the endpoint still starts: ModelNotReadyException, the same answer.
        let (s, body) = post(&app, "/search", json!({"query": "cloud"})).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (503, Some("EndpointStarting")),
            "{body}"
        );
        let not_ready = invocations(&aws)
            .iter()
            .filter(|c| c["status"] == 429)
            .count();
        assert!(not_ready >= 1);
        tokio::time::sleep(std::time::Duration::from_millis(4_000)).await;
        let (s, body) = post(&app, "/ingest", doc).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(keys(&s3v).await, vec!["cold#0"]);

        // Cold again; with the full budget, two concurrent requests both wait it out.
        aws.control(
            "POST",
            "endpoints",
            Some(r#"{"name": "alex-embedding-endpoint", "cold": true, "cold_start_ms": 1500}"#),
        );
        let config = app.config.as_mut().unwrap();
        config.time_budget_ms = 29_000;
        config.deadline_margin_ms = 2_500;
        let a = post(
            &app,
            "/ingest",
            json!({"text": "Chip demand rose.", "id": "a"}),
        );
        let b = post(&app, "/search", json!({"query": "chips"}));
        let ((sa, ba), (sb, bb)) = tokio::join!(a, b);
        assert_eq!((sa, sb), (200, 200), "{ba} {bb}");
    });
}
