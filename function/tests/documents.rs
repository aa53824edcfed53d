//! The document endpoints through the handler, with the stub backend: list, get, delete,
//! delete by filter (resumable), and their errors.

mod common;

use common::{app, call, ingest_ok, long_text, rest_event};
use serde_json::{Value, json};

#[tokio::test]
async fn a_document_is_listed_read_and_deleted_with_every_chunk() {
    let app = app();
    ingest_ok(
        &app,
        "notes/a.md",
        &long_text(120),
        json!({"ticker": "TSLA"}),
    )
    .await;
    ingest_ok(&app, "b", "short text", json!({})).await;
    let chunks = app.backend.store.lock().unwrap().len();
    assert!(
        chunks > 3,
        "the long document has several chunks ({chunks})"
    );

    let (s, list, _) = call(&app, rest_event("GET", "/documents", "")).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["document_ids"], json!(["b", "notes/a.md"]));
    assert_eq!(list["next_token"], Value::Null);
    assert!(list.get("metadata").is_none(), "{list}");
    // With metadata: each document's user metadata (its head's), none of the reserved keys.
    let with_metadata = {
        use lambda_http::RequestExt;
        let query = std::collections::HashMap::from([("metadata".to_string(), "true".to_string())]);
        rest_event("GET", "/documents", "").with_query_string_parameters(query)
    };
    let (s, list, _) = call(&app, with_metadata).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["document_ids"], json!(["b", "notes/a.md"]));
    assert_eq!(
        list["metadata"],
        json!({"b": {}, "notes/a.md": {"ticker": "TSLA"}})
    );

    let (s, doc, _) = call(&app, rest_event("GET", "/documents/notes%2Fa.md", "")).await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["document_id"], "notes/a.md");
    assert_eq!(doc["metadata"], json!({"ticker": "TSLA"}));
    assert_eq!(doc["chunks"].as_array().unwrap().len(), chunks - 1);
    assert_eq!(doc["chunks"][1]["index"], 1);
    assert!(doc["timestamp"].is_string() && doc["embedding"].is_string());

    let (s, gone, _) = call(&app, rest_event("DELETE", "/documents/notes%2Fa.md", "")).await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(gone["deleted_chunks"], chunks - 1);
    assert_eq!(
        app.backend.store.lock().unwrap().len(),
        1,
        "only `b` is left"
    );
    let (s, body, _) = call(&app, rest_event("GET", "/documents/notes%2Fa.md", "")).await;
    assert_eq!(s, 404, "{body}");
    let (s, _, _) = call(&app, rest_event("DELETE", "/documents/notes%2Fa.md", "")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn delete_by_filter_removes_matching_documents_and_nothing_else() {
    let app = app();
    ingest_ok(&app, "tsla-1", &long_text(120), json!({"ticker": "TSLA"})).await;
    ingest_ok(
        &app,
        "tsla-2",
        "Tesla deliveries",
        json!({"ticker": "TSLA"}),
    )
    .await;
    ingest_ok(&app, "amzn", "Amazon retail", json!({"ticker": "AMZN"})).await;
    let body = json!({"filter": {"ticker": {"$eq": "TSLA"}}}).to_string();
    let (s, out, _) = call(&app, rest_event("POST", "/documents/delete", &body)).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["deleted_documents"], 2);
    assert_eq!(out["document_ids"], json!(["tsla-1", "tsla-2"]));
    let left: Vec<String> = app.backend.store.lock().unwrap().keys().cloned().collect();
    assert_eq!(left, ["amzn#0"]);
    // Nothing left to match: a clean pass.
    let (s, out, _) = call(&app, rest_event("POST", "/documents/delete", &body)).await;
    assert_eq!((s, out["deleted_documents"].clone()), (200, json!(0)));
}

#[tokio::test]
async fn bad_document_requests_get_clear_errors() {
    let app = app();
    let (s, body, resp) = call(&app, rest_event("PUT", "/documents/x", "")).await;
    assert_eq!(s, 405, "{body}");
    assert_eq!(resp.headers()["allow"], "GET, DELETE");
    for path in ["/documents/delete", "/documents/reindex"] {
        let (s, _, resp) = call(&app, rest_event("GET", path, "")).await;
        assert_eq!(
            (s, resp.headers()["allow"].to_str().unwrap()),
            (405, "POST"),
            "{path}"
        );
    }
    let (s, body, _) = call(
        &app,
        rest_event("POST", "/documents/delete", "{\"filter\": 3}"),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, body, _) = call(
        &app,
        rest_event(
            "POST",
            "/documents/delete",
            &json!({"filter": {"text": "x"}}).to_string(),
        ),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let body = json!({"filter": {"a": 1}, "next_token": "forged"}).to_string();
    let (s, out, _) = call(&app, rest_event("POST", "/documents/delete", &body)).await;
    assert_eq!(s, 400, "{out}");
}

#[tokio::test]
async fn reindex_migrates_original_vectors_and_reembeds_stale_chunks() {
    let app = app();
    ingest_ok(
        &app,
        "current",
        "Already embedded the current way",
        json!({}),
    )
    .await;
    {
        let mut store = app.backend.store.lock().unwrap();
        // A document of the original Python stack: one vector keyed by its id, token 0.
        let original = json!({"text": "Tesla makes electric cars", "source": "orig", "timestamp": "2025-01-01T00:00:00Z"});
        store.insert(
            "0b7c-orig".into(),
            (vec![0.5; 384], original.as_object().unwrap().clone()),
        );
        // A chunk made by another embedding version.
        let (data, mut meta) = store["current#0"].clone();
        meta.insert("embedding".into(), json!("old-model/cls"));
        store.insert("stale#0".into(), (data, meta));
    }
    let mut token = Value::Null;
    let mut rounds = 0;
    let (mut reembedded, mut migrated) = (0, 0);
    loop {
        rounds += 1;
        assert!(rounds < 20, "reindex does not finish");
        let body = json!({"segment": 0, "segments": 1, "next_token": token}).to_string();
        let (s, out, _) = call(&app, rest_event("POST", "/documents/reindex", &body)).await;
        assert!(s == 200 || s == 202, "{out}");
        reembedded += out["reembedded"].as_u64().unwrap();
        migrated += out["migrated"].as_u64().unwrap();
        if out["done"] == json!(true) {
            break;
        }
        token = out["next_token"].clone();
    }
    assert_eq!((reembedded, migrated), (1, 1));
    {
        let store = app.backend.store.lock().unwrap();
        assert!(
            !store.contains_key("0b7c-orig"),
            "the token-0 vector is gone"
        );
        let migrated = &store["0b7c-orig#0"].1;
        assert_eq!(migrated["embedding"], "all-MiniLM-L6-v2/mean/l2");
        assert_eq!(migrated["source"], "orig", "user metadata is kept");
        assert_eq!(store["stale#0"].1["embedding"], "all-MiniLM-L6-v2/mean/l2");
    }
    // Nothing left to do: one round, nothing re-embedded.
    let body = json!({"segment": 0, "segments": 1}).to_string();
    let (s, out, _) = call(&app, rest_event("POST", "/documents/reindex", &body)).await;
    assert_eq!(
        (s, out["reembedded"].clone(), out["migrated"].clone()),
        (200, json!(0), json!(0))
    );
}
