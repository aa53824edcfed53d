//! `search`: queries the deployed API and prints ranked results.

use crate::api_client::{ApiClient, STALE_HINT, error_message, escape_controls};
use crate::cli::SearchArgs;
use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// The search endpoint for an ingest endpoint (`…/ingest` → `…/search`).
pub fn search_url(ingest: &str) -> String {
    match ingest.strip_suffix("/ingest") {
        Some(base) => format!("{base}/search"),
        None => ingest.to_string(),
    }
}

/// Human-readable results: rank, score, ticker/company, text preview.
pub fn render(response: &Value) -> String {
    let mut out = String::new();
    let results = response["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        out.push_str("No results.\n");
    }
    for (i, r) in results.iter().enumerate() {
        let meta = &r["metadata"];
        let who = match (meta["ticker"].as_str(), meta["company_name"].as_str()) {
            (Some(t), Some(c)) => format!("{t} · {c}"),
            (Some(t), None) => t.to_string(),
            (None, Some(c)) => c.to_string(),
            _ => r["document_id"].as_str().unwrap_or("").to_string(),
        };
        let who = escape_controls(&who);
        let text: String = r["text"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let preview = escape_controls(&text.chars().take(100).collect::<String>());
        let ellipsis = if text.chars().count() > 100 {
            "…"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>2}. {:.3}  {who}\n    {preview}{ellipsis}",
            i + 1,
            r["score"].as_f64().unwrap_or(0.0)
        );
    }
    out
}

/// `search`: the API's JSON answer.
pub async fn run(args: &SearchArgs, endpoint: &str, key: &str) -> anyhow::Result<Value> {
    let mut body = json!({"query": args.query, "k": args.k});
    if let Some(filter) = &args.filter {
        body["filter"] = serde_json::from_str(filter).context("`--filter` is not valid JSON")?;
    }
    let client = ApiClient::new(key, std::time::Duration::from_secs(60))?;
    let answer = client.post(&search_url(endpoint), &body).await?;
    match answer.status {
        200 => Ok(answer.body),
        403 | 404 => bail!(
            "search failed: HTTP {}: {}{}\n{STALE_HINT}",
            answer.status,
            error_message(&answer.body),
            answer.id_suffix()
        ),
        status => bail!(
            "search failed: HTTP {status}: {}{}",
            error_message(&answer.body),
            answer.id_suffix()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ranked_results() {
        let v = json!({"results": [
            {"score": 0.61234, "document_id": "d", "text": "Tesla makes\n electric cars", "metadata": {"ticker": "TSLA", "company_name": "Tesla, Inc."}},
            {"score": 0.2, "document_id": "plain", "text": "x".repeat(150), "metadata": {}}
        ], "count": 2});
        let out = render(&v);
        assert!(
            out.starts_with(" 1. 0.612  TSLA · Tesla, Inc.\n    Tesla makes electric cars\n"),
            "{out}"
        );
        assert!(out.contains(" 2. 0.200  plain\n    "));
        assert!(out.trim_end().ends_with('…'));
        let hostile = json!({"results": [{"score": 1.0, "document_id": "\u{1b}]0;x\u{7}", "text": "a\u{1b}[31mred", "metadata": {}}]});
        let out = render(&hostile);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(out.contains("a\\u{1b}[31mred"), "{out}");
        assert_eq!(
            search_url("http://h/restapis/a/prod/_user_request_/ingest"),
            "http://h/restapis/a/prod/_user_request_/search"
        );
    }
}
