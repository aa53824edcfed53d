//! Handler tests on API Gateway REST v1 and HTTP v2 events, against the in-memory backend.

mod common;

use common::*;
use function::handler::App;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

fn stored(app: &App<Stub>) -> usize {
    app.backend.store.lock().unwrap().len()
}

#[tokio::test]
async fn ingest_answers_the_original_contract() {
    let app = app();
    let (status, body) = post(
        &app,
        "/ingest",
        json!({"text": "Test document via API", "metadata": {"source": "api_test"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Document indexed successfully");
    let id = body["document_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let store = app.backend.store.lock().unwrap();
    let (_, meta) = store.get(&format!("{id}#0")).unwrap();
    assert_eq!(meta["text"], "Test document via API");
    assert_eq!(meta["source"], "api_test");
    assert_eq!(meta["document_id"], id);
    assert!(meta["timestamp"].as_str().unwrap().ends_with('Z'));
}

/// A tiny ingest embeds while its resume read runs: read ∥ embed, write, read-back — three
/// round trips on its critical path, not four. A re-send of a stored document does not wait for
/// the endpoint at all. (Virtual time: every call takes 100 ms.)
#[tokio::test(start_paused = true)]
async fn a_small_ingest_embeds_while_it_reads_its_stored_chunks() {
    let app = app();
    app.backend.delay_ms.store(100, Ordering::SeqCst);
    app.backend.store_delay_ms.store(100, Ordering::SeqCst);
    let doc = json!({"id": "overlap", "text": "Electric vehicle sales grew forty percent"});
    let started = tokio::time::Instant::now();
    let (status, body) = post(&app, "/ingest", doc.clone()).await;
    assert_eq!(status, 200, "{body}");
    let took = started.elapsed().as_millis();
    assert!((300..400).contains(&took), "{took} ms");
    assert_eq!(stored(&app), 1);

    // The same document again, with an endpoint that would take a minute: answered after the
    // read and the read-back, its speculative embedding dropped.
    app.backend.delay_ms.store(60_000, Ordering::SeqCst);
    let writes = app.backend.writes.load(Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let (status, body) = post(&app, "/ingest", doc).await;
    assert_eq!(status, 200, "{body}");
    let took = started.elapsed().as_millis();
    assert!((200..300).contains(&took), "{took} ms");
    assert_eq!(app.backend.writes.load(Ordering::SeqCst), writes);
}

#[tokio::test]
async fn rest_stage_prefix_and_http_v2_stage_prefix_both_route() {
    let app = app();
    let (s, _, _) = call(
        &app,
        rest_event("POST", "/ingest", r#"{"text":"electric cars","id":"t"}"#),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body, _) = call(
        &app,
        http_event("POST", "/search", r#"{"query":"electric cars"}"#),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["results"][0]["document_id"], "t");
    let (s, body, _) = call(
        &app,
        http_event("POST", "/ingest", r#"{"text":"x y z words"}"#),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn unknown_paths_404_and_other_methods_405_as_json() {
    let app = app();
    let (s, body, _) = call(&app, rest_event("POST", "/nope", "{}")).await;
    assert_eq!(s, 404);
    assert_eq!(body["request_id"], "rest-request-1");
    let (s, body, resp) = call(&app, rest_event("GET", "/ingest", "")).await;
    assert_eq!(s, 405);
    assert!(body["error"].as_str().unwrap().contains("GET"));
    assert_eq!(resp.headers()["allow"], "POST");
}

#[tokio::test]
async fn reserved_keys_and_bad_values_are_400_and_write_nothing() {
    let app = app();
    let (s, body) = post(
        &app,
        "/ingest",
        json!({"text": "t", "metadata": {"document_id": "x"}}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["error"], "metadata key `document_id` is reserved");
    let (s, body) = post(
        &app,
        "/ingest",
        json!({"documents": [{"text": "ok"}, {"text": "t", "metadata": {"o": {"a": 1}}}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("documents[1]: metadata key `o`"),
        "{body}"
    );
    assert_eq!(stored(&app), 0);
    assert_eq!(
        app.backend.invocations.load(Ordering::SeqCst),
        0,
        "validation happens before any call"
    );
}

#[tokio::test]
async fn oversized_filterable_metadata_is_413() {
    let app = app();
    let (s, body) = post(
        &app,
        "/ingest",
        json!({"text": "t", "metadata": {"note": "x".repeat(3000)}}),
    )
    .await;
    assert_eq!(s, 413);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("filterable metadata"),
        "{body}"
    );
    assert_eq!(stored(&app), 0);
}

#[tokio::test]
async fn long_documents_are_chunked_and_found_by_any_chunk() {
    let app = app();
    let filler = "Revenue grew strongly this quarter. ".repeat(60);
    let text = format!("{filler}Zebras graze peacefully near quantum lighthouses. {filler}");
    let (s, body) = post(&app, "/ingest", json!({"text": text, "id": "long"})).await;
    assert_eq!(s, 200, "{body}");
    let chunks = body["chunks"].as_u64().unwrap();
    assert!(chunks >= 5, "{chunks} chunks");
    {
        let store = app.backend.store.lock().unwrap();
        for i in 0..chunks {
            let (_, m) = store.get(&format!("long#{i}")).unwrap();
            assert_eq!(m["chunk_index"], i);
            assert_eq!(m["chunk_count"], chunks);
            let tokens = shared::tokenize::count_tokens(m["text"].as_str().unwrap()).unwrap();
            assert!(tokens <= 128, "{tokens} tokens");
        }
    }
    let (s, body) = post(
        &app,
        "/search",
        json!({"query": "zebras quantum lighthouses", "k": 1}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["results"][0]["document_id"], "long");
    assert!(
        body["results"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Zebras")
    );
}

#[tokio::test]
async fn reingest_by_id_leaves_no_stale_chunks() {
    let app = app();
    let long = "First version sentence here. ".repeat(100);
    let (_, body) = post(&app, "/ingest", json!({"text": long, "id": "doc"})).await;
    assert!(body["chunks"].as_u64().unwrap() > 3);
    let (s, body) = post(
        &app,
        "/ingest",
        json!({"text": "Short second version.", "id": "doc"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["document_id"], "doc");
    let store = app.backend.store.lock().unwrap();
    let keys: Vec<&String> = store.keys().collect();
    assert_eq!(keys, vec!["doc#0"]);
    assert_eq!(store["doc#0"].1["text"], "Short second version.");
}

#[tokio::test]
async fn batch_ingest_returns_every_id() {
    let app = app();
    let (s, body) = post(
        &app,
        "/ingest",
        json!({"documents": [{"text": "a one", "id": "a"}, {"text": "b two"}]}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["document_ids"][0], "a");
    assert_eq!(body["document_ids"].as_array().unwrap().len(), 2);
    let (s, body) = post(
        &app,
        "/ingest",
        json!({"documents": [{"text": "a", "id": "a"}, {"text": "b", "id": "a"}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("duplicate id"));
}

#[tokio::test]
async fn embedding_failures_are_502_and_throttling_503_with_retry_after() {
    let app = app();
    *app.backend.mode.lock().unwrap() = EndpointMode::Failing;
    let (s, body) = post(&app, "/ingest", json!({"text": "t"})).await;
    assert_eq!(s, 502);
    assert!(
        !body["error"].as_str().unwrap().contains("boom"),
        "no internal detail: {body}"
    );
    *app.backend.mode.lock().unwrap() = EndpointMode::WrongDimension;
    let (s, body) = post(&app, "/ingest", json!({"text": "t"})).await;
    assert_eq!(s, 502);
    assert!(
        body["error"].as_str().unwrap().contains("33-dimensional"),
        "{body}"
    );
    *app.backend.mode.lock().unwrap() = EndpointMode::Garbage;
    let (s, _) = post(&app, "/search", json!({"query": "t"})).await;
    assert_eq!(s, 502);
    *app.backend.mode.lock().unwrap() = EndpointMode::Throttled;
    let (s, _, resp) = call(&app, rest_event("POST", "/ingest", r#"{"text":"t"}"#)).await;
    assert_eq!(s, 503);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(stored(&app), 0);
}

#[tokio::test]
async fn search_validation() {
    let app = app();
    for (body, needle) in [
        (json!({"query": ""}), "`query` must not be empty"),
        (json!({"query": "q", "k": 0}), "`k` must be in 1..=100"),
        (
            json!({"query": "q", "k": 10_001}),
            "`k` must be in 1..=10000",
        ),
        (
            json!({"query": "q", "filter": {"text": "x"}}),
            "not filterable",
        ),
        (
            json!({"query": "q", "filter": {"$and": [{"text": {"$eq": "x"}}]}}),
            "not filterable",
        ),
        (
            json!({"query": "q", "filter": [1]}),
            "must be a JSON object",
        ),
    ] {
        let (s, resp) = post(&app, "/search", body.clone()).await;
        assert_eq!(s, 400, "{body}");
        assert!(resp["error"].as_str().unwrap().contains(needle), "{resp}");
    }
}

#[tokio::test]
async fn search_ranks_and_filters() {
    let app = app();
    post(
        &app,
        "/ingest",
        json!({"documents": [
            {"text": "electric vehicles batteries", "id": "tsla", "metadata": {"ticker": "TSLA"}},
            {"text": "cloud computing services", "id": "amzn", "metadata": {"ticker": "AMZN"}}
        ]}),
    )
    .await;
    let (_, body) = post(&app, "/search", json!({"query": "cloud computing"})).await;
    assert_eq!(body["count"], 2);
    assert_eq!(body["results"][0]["document_id"], "amzn");
    assert!(
        body["results"][0]["score"].as_f64().unwrap()
            > body["results"][1]["score"].as_f64().unwrap()
    );
    assert_eq!(body["results"][0]["metadata"]["ticker"], "AMZN");
    assert!(body["results"][0]["metadata"].get("text").is_none());
    let (_, body) = post(
        &app,
        "/search",
        json!({"query": "cloud computing", "filter": {"ticker": "TSLA"}}),
    )
    .await;
    assert_eq!(body["count"], 1);
    assert_eq!(body["results"][0]["document_id"], "tsla");
}

#[tokio::test]
async fn missing_configuration_answers_500_naming_it() {
    let config = function::config::Config::from_lookup(|name| {
        (name == "SAGEMAKER_ENDPOINT").then(|| "e".to_string())
    });
    let app = App::new(Stub::default(), config);
    let (s, body) = post(&app, "/ingest", json!({"text": "t"})).await;
    assert_eq!(s, 500);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("misconfigured: VECTOR_BUCKET is not set")
    );
}

fn hostile_body() -> impl Strategy<Value = String> {
    let json_values = prop_oneof![
        Just(json!(null)),
        Just(json!(1)),
        Just(json!("s")),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"text": ""})),
        Just(json!({"text": "   \n"})),
        Just(json!({"text": 5})),
        Just(json!({"text": "t", "metadata": []})),
        Just(json!({"text": "t", "metadata": {"timestamp": 1}})),
        Just(json!({"text": "t", "id": ""})),
        Just(json!({"text": "t", "id": "a#b"})),
        Just(json!({"text": "t", "id": "x".repeat(300)})),
        Just(json!({"documents": []})),
        Just(json!({"documents": {}})),
        Just(json!({"documents": [1]})),
        Just(json!({"text": "t", "metadata": {"l": [1, 2]}})),
        Just(json!({"text": "t", "metadata": {"big": "y".repeat(5000)}})),
    ];
    prop_oneof![
        "\\PC{0,64}",
        json_values.prop_map(|v: Value| v.to_string()),
        ("[a-z]{1,10}", "\\PC{0,20}")
            .prop_map(|(k, v)| json!({"text": "t", "metadata": {k: {"nested": v}}}).to_string()),
        ("\\PC{0,20}", -5i64..200)
            .prop_map(|(q, k)| json!({"query": q, "k": k, "filter": "x"}).to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn hostile_requests_get_4xx_json_and_write_nothing(body in hostile_body(), search in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let app = app();
        let path = if search { "/search" } else { "/ingest" };
        let (status, resp, _) = rt.block_on(call(&app, rest_event("POST", path, &body)));
        prop_assert!((400..500).contains(&status), "{} for {:?}: {}", status, body, resp);
        prop_assert!(resp["error"].is_string());
        prop_assert_eq!(stored(&app), 0);
        prop_assert_eq!(app.backend.writes.load(Ordering::SeqCst), 0);
    }
}

/// A document of `n` sentences of ~10 tokens each.
fn sentences(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("Sentence {i} of the {tag} report covers revenue and margins. "))
        .collect()
}

#[tokio::test]
async fn a_document_too_slow_for_one_call_completes_by_resending_and_embeds_each_chunk_once() {
    let mut config = common::config();
    config.embed_batch_size = 1;
    config.embed_concurrency = 1;
    config.time_budget_ms = 1_200;
    config.deadline_margin_ms = 200;
    let app = common::app_with(config);
    app.backend.delay_ms.store(150, Ordering::SeqCst);
    let body = json!({"text": sentences(120, "annual"), "id": "slow"});
    let mut rounds = Vec::new();
    loop {
        let (s, answer) = post(&app, "/ingest", body.clone()).await;
        rounds.push((s, answer.clone()));
        if s == 200 {
            break;
        }
        assert_eq!(s, 202, "{answer}");
        assert_eq!(answer["document_id"], "slow");
        assert!(answer["chunks_done"].as_u64() < answer["chunks_total"].as_u64());
        assert!(rounds.len() < 10, "no end in sight: {rounds:?}");
    }
    assert!(rounds.len() >= 2, "one call was enough: {rounds:?}");
    let done = &rounds.last().unwrap().1;
    assert_eq!(done["message"], "Document indexed successfully");
    let total = done["chunks"].as_u64().unwrap() as usize;
    // Progress grows, and no chunk was embedded twice.
    let progress: Vec<u64> = rounds
        .iter()
        .filter_map(|(_, a)| a["chunks_done"].as_u64())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(app.backend.embedded.load(Ordering::SeqCst), total);
    assert_eq!(stored(&app), total);
}

#[tokio::test]
async fn resending_or_editing_a_document_embeds_only_what_changed() {
    let app = app();
    let original = sentences(60, "annual");
    let (s, first) = post(&app, "/ingest", json!({"text": original, "id": "doc"})).await;
    assert_eq!(s, 200, "{first}");
    let total = first["chunks"].as_u64().unwrap() as usize;
    assert!(total >= 4, "{total}");
    let embedded = |app: &App<Stub>| app.backend.embedded.load(Ordering::SeqCst);
    assert_eq!(embedded(&app), total);
    // The same request again: nothing to embed, nothing to write.
    let writes = app.backend.writes.load(Ordering::SeqCst);
    let (s, _) = post(&app, "/ingest", json!({"text": original, "id": "doc"})).await;
    assert_eq!(s, 200);
    assert_eq!(embedded(&app), total);
    assert_eq!(app.backend.writes.load(Ordering::SeqCst), writes);
    // An edit in the last sentence re-embeds the last chunk(s) only.
    let edited = original.replace("Sentence 59 of the annual", "Sentence 59 of the amended");
    let (s, _) = post(&app, "/ingest", json!({"text": edited, "id": "doc"})).await;
    assert_eq!(s, 200);
    let again = embedded(&app) - total;
    assert!((1..=2).contains(&again), "{again} chunks re-embedded");
    // New metadata alone re-writes every chunk with its stored vector: no embedding.
    let (s, _) = post(
        &app,
        "/ingest",
        json!({"text": edited, "id": "doc", "metadata": {"ticker": "TSLA"}}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(embedded(&app) - total, again);
    let store = app.backend.store.lock().unwrap();
    assert!(store.values().all(|(_, m)| m["ticker"] == "TSLA"));
    assert!(
        store
            .values()
            .all(|(_, m)| m["embedding"] == shared::metadata::EMBEDDING_MARKER)
    );
}

#[tokio::test]
async fn documents_without_an_id_resume_under_the_same_content_derived_id() {
    let app = app();
    let (_, a) = post(&app, "/ingest", json!({"text": "Same text."})).await;
    let writes = app.backend.writes.load(Ordering::SeqCst);
    let (_, b) = post(&app, "/ingest", json!({"text": "Same text."})).await;
    assert_eq!(a["document_id"], b["document_id"]);
    assert_eq!(stored(&app), 1);
    // The re-send writes nothing; its one speculative embedding (a small request embeds while
    // it reads) may have been sent, and was dropped.
    assert_eq!(app.backend.writes.load(Ordering::SeqCst), writes);
    assert!(app.backend.embedded.load(Ordering::SeqCst) <= 2);
    let (s, c) = post(
        &app,
        "/ingest",
        json!({"documents": [{"text": "x y"}, {"text": "x y"}]}),
    )
    .await;
    assert_eq!(s, 400, "{c}");
    assert!(c["error"].as_str().unwrap().contains("twice"), "{c}");
}

#[tokio::test]
async fn text_with_nothing_to_embed_is_400() {
    let app = app();
    let (s, body) = post(&app, "/ingest", json!({"text": "\u{0}\u{7}x"})).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = post(&app, "/ingest", json!({"text": "\u{7}\u{1b}"})).await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nothing to embed"));
}

/// An S3 Vectors call that does not answer in time (a throttled write the SDK keeps backing off)
/// is cut at the request's deadline: the answer is 503 with `Retry-After`, before the
/// invocation would be killed (which API Gateway answers 502, a failure no client retries).
#[tokio::test(start_paused = true)]
async fn a_call_that_outlives_the_deadline_is_cut_with_a_retryable_answer() {
    let app = app();
    app.backend.store_delay_ms.store(60_000, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    for (path, body) in [
        (
            "/ingest",
            json!({"id": "slow", "text": "Tesla builds cars."}),
        ),
        ("/search", json!({"query": "cars"})),
    ] {
        let (status, body, resp) = call(&app, rest_event("POST", path, &body.to_string())).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(resp.headers().contains_key("retry-after"), "{path}");
    }
    // Both answered inside one request's budget each (3 s in the test configuration).
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
}
