//! Regression tests for the data-integrity findings (issue 17), one example each; the model
//! test (`model.rs`) proves the classes.

mod common;

use common::{app, call, ingest_ok, long_text, post, rest_event};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

fn keys(app: &function::handler::App<common::Stub>) -> Vec<String> {
    app.backend.store.lock().unwrap().keys().cloned().collect()
}

async fn delete_by(app: &function::handler::App<common::Stub>, body: Value) -> (u16, Value) {
    let (s, out, _) = call(
        app,
        rest_event("POST", "/documents/delete", &body.to_string()),
    )
    .await;
    (s, out)
}

/// 1. Numbers compare by value, as S3 Vectors compares them.
#[tokio::test]
async fn filters_compare_numbers_by_value() {
    let app = app();
    ingest_ok(&app, "y2024", "Results of the year", json!({"year": 2024})).await;
    ingest_ok(&app, "y2025", "Results of next year", json!({"year": 2025})).await;
    let (s, out) = delete_by(&app, json!({"filter": {"year": {"$ne": 2024.0}}})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["document_ids"], json!(["y2025"]));
    assert_eq!(keys(&app), ["y2024#0"]);
    let (s, out) = delete_by(&app, json!({"filter": {"year": {"$in": [2024.0]}}})).await;
    assert_eq!((s, out["document_ids"].clone()), (200, json!(["y2024"])));
    assert!(keys(&app).is_empty());
}

/// 2. An empty filter or condition is refused and deletes nothing; `all` is its own request.
#[tokio::test]
async fn empty_filters_are_refused_and_all_is_explicit() {
    let app = app();
    ingest_ok(&app, "a", "Alpha document", json!({"k": "v"})).await;
    ingest_ok(&app, "b", "Beta document", json!({})).await;
    for bad in [
        json!({"filter": {}}),
        json!({"filter": {"k": {}}}),
        json!({"filter": {"$and": [{}]}}),
        json!({}),
        json!({"filter": {"k": "v"}, "all": true}),
    ] {
        let (s, out) = delete_by(&app, bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {out}");
        assert_eq!(keys(&app).len(), 2, "{bad} deleted something");
    }
    let (s, out) = post(&app, "/search", json!({"query": "alpha", "filter": {}})).await;
    assert_eq!(s, 400, "{out}");
    let (s, out) = delete_by(&app, json!({"all": true})).await;
    assert_eq!(
        (s, out["deleted_documents"].clone()),
        (200, json!(2)),
        "{out}"
    );
    assert!(keys(&app).is_empty());
}

fn original(text: &str, timestamp: &str) -> (Vec<f32>, serde_json::Map<String, Value>) {
    let meta = json!({"text": text, "source": "orig", "timestamp": timestamp});
    (vec![0.5; common::DIM], meta.as_object().unwrap().clone())
}

/// 3. The newest acknowledged write of an id wins, whichever layout it came from.
#[tokio::test]
async fn the_newest_layout_of_an_id_wins() {
    let app = app();
    let insert = |key: &str, v| app.backend.store.lock().unwrap().insert(key.into(), v);
    // An original-stack document, then a new ingest of the same id: the old vector goes.
    insert("X", original("old text", "2025-01-01T00:00:00"));
    ingest_ok(&app, "X", "new text", json!({})).await;
    assert_eq!(keys(&app), ["X#0"]);
    // The original stack writes the id again, later: GET shows it, reindex migrates it.
    insert("X", original("newer original", "2999-01-01T00:00:00"));
    let (s, doc, _) = call(&app, rest_event("GET", "/documents/X", "")).await;
    assert_eq!(
        (s, doc["chunks"][0]["text"].clone()),
        (200, json!("newer original"))
    );
    // An older original beside a newer chunked document is only removed by reindex.
    insert("Y", original("stale original", "2020-01-01T00:00:00"));
    ingest_ok(&app, "Z", "unrelated", json!({})).await;
    let store_y = app.backend.store.lock().unwrap().remove("Y").unwrap();
    ingest_ok(&app, "Y", "current text", json!({})).await;
    insert("Y", store_y);
    let body = json!({"segment": 0, "segments": 1}).to_string();
    let (s, out, _) = call(&app, rest_event("POST", "/documents/reindex", &body)).await;
    assert_eq!(s, 200, "{out}");
    let store = app.backend.store.lock().unwrap();
    assert_eq!(store["X#0"].1["text"], "newer original");
    assert_eq!(
        store["Y#0"].1["text"], "current text",
        "reindex kept the newer write"
    );
    assert!(!store.contains_key("X") && !store.contains_key("Y"));
}

/// 4. Chunks beyond the head's count (an abandoned longer rewrite) are found and removed.
#[tokio::test]
async fn chunks_beyond_the_count_do_not_survive() {
    let app = app();
    ingest_ok(&app, "d", &long_text(120), json!({})).await;
    let long = keys(&app).len();
    assert!(long > 4);
    // An abandoned shorter rewrite that wrote only its head (the old chunks stay).
    {
        let mut store = app.backend.store.lock().unwrap();
        let (data, mut meta) = store["d#0"].clone();
        meta.insert("chunk_count".into(), json!(1));
        store.insert("d#0".into(), (data, meta));
    }
    let (s, doc, _) = call(&app, rest_event("GET", "/documents/d", "")).await;
    assert_eq!((s, doc["chunks"].as_array().unwrap().len()), (200, 1));
    ingest_ok(&app, "d", "short now", json!({})).await;
    assert_eq!(keys(&app), ["d#0"]);
    // Strays with no head at all are still reached by DELETE.
    ingest_ok(&app, "e", &long_text(120), json!({})).await;
    app.backend.store.lock().unwrap().remove("e#0");
    let (s, out, _) = call(&app, rest_event("DELETE", "/documents/e", "")).await;
    assert_eq!(
        (s, out["deleted_chunks"].clone()),
        (200, json!(long - 1)),
        "{out}"
    );
    assert_eq!(keys(&app), ["d#0"]);
}

/// 5. Ids a URL layer would normalise, or that name another route, are refused.
#[tokio::test]
async fn ids_that_a_url_would_change_are_refused() {
    let app = app();
    for id in [
        "a/../victim",
        "./x",
        "notes/",
        "/abs",
        "a//b",
        "delete",
        "reindex/x",
    ] {
        let (s, out) = post(&app, "/ingest", json!({"id": id, "text": "t"})).await;
        assert_eq!(s, 400, "{id}: {out}");
    }
    assert!(keys(&app).is_empty());
}

/// 7. The encoded size of every chunk is checked before anything is embedded.
#[tokio::test]
async fn encoded_metadata_is_checked_for_every_chunk_before_embedding() {
    let app = app();
    // 7 KB of control characters: 42 KB once encoded, over the 40 KB limit.
    let text = format!("start {} end", "\u{1}".repeat(7 * 1024));
    let (s, out) = post(
        &app,
        "/ingest",
        json!({"documents": [{"id": "ok", "text": "fine"}, {"id": "ctl", "text": text}]}),
    )
    .await;
    assert_eq!(s, 413, "{out}");
    assert!(
        out["error"].as_str().unwrap().starts_with("documents[1]:"),
        "{out}"
    );
    assert_eq!(
        app.backend.invocations.load(Ordering::SeqCst),
        0,
        "nothing embedded"
    );
    assert!(keys(&app).is_empty());
}

/// 10. `GET /documents/{id}` stays under the Lambda payload limit, and says it cut.
#[tokio::test]
async fn a_large_document_answer_is_cut_to_fit() {
    let app = app();
    ingest_ok(&app, "big", "seed", json!({})).await;
    {
        let mut store = app.backend.store.lock().unwrap();
        let (data, meta) = store["big#0"].clone();
        for i in 0..200 {
            let mut m = meta.clone();
            m.insert("chunk_count".into(), json!(200));
            m.insert("text".into(), json!("\u{1}".repeat(8 * 1024)));
            store.insert(format!("big#{i}"), (data.clone(), m));
        }
    }
    let (s, doc, resp) = call(&app, rest_event("GET", "/documents/big", "")).await;
    assert_eq!(s, 200);
    assert_eq!(doc["texts_cut"], true);
    assert_eq!(doc["chunks"].as_array().unwrap().len(), 200);
    let body = match resp.body() {
        lambda_http::Body::Text(t) => t.len(),
        _ => unreachable!(),
    };
    assert!(
        body < shared::limits::MAX_SEARCH_ANSWER_BYTES,
        "{body} bytes"
    );
}
