//! `search`: queries the deployed API and prints ranked results.

use crate::api_client::{ApiClient, Credentials, escape_controls};
use crate::cli::SearchArgs;
use crate::printer::Printer;
use anyhow::Context as _;
use serde::Serialize;
use shared::api::{SearchRequest, SearchResponse, SearchResult};

/// The search endpoint for an ingest endpoint (`…/ingest` → `…/search`).
pub fn search_url(ingest: &str) -> String {
    use shared::routes::Operation;
    match ingest.strip_suffix(Operation::Ingest.route().path) {
        Some(base) => format!("{base}{}", Operation::Search.route().path),
        None => ingest.to_string(),
    }
}

/// The API's answer; as text: rank, score, ticker/company, text preview.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct SearchReport(pub SearchResponse);

fn who(r: &SearchResult) -> String {
    let field = |k: &str| r.metadata.get(k).and_then(|v| v.as_str());
    let who = match (field("ticker"), field("company_name")) {
        (Some(t), Some(c)) => format!("{t} · {c}"),
        (Some(t), None) => t.to_string(),
        (None, Some(c)) => c.to_string(),
        _ => r.document_id.clone(),
    };
    escape_controls(&who)
}

impl std::fmt::Display for SearchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.results.is_empty() {
            writeln!(f, "No results.")?;
        }
        for (i, r) in self.0.results.iter().enumerate() {
            let text = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let preview = escape_controls(&text.chars().take(100).collect::<String>());
            let ellipsis = if text.chars().count() > 100 {
                "…"
            } else {
                ""
            };
            writeln!(
                f,
                "{:>2}. {:.3}  {}\n    {preview}{ellipsis}",
                i + 1,
                r.score,
                who(r)
            )?;
        }
        Ok(())
    }
}

impl crate::report::Report for SearchReport {
    fn summary(&self) -> Option<String> {
        let r = &self.0;
        match (r.texts_cut, r.results_cut) {
            (_, true) => Some(format!(
                "{} result(s): the answer had to fit Lambda's 6 MB payload, so texts were cut and the last results left out; ask for a smaller -k",
                r.count
            )),
            (true, false) => Some(format!(
                "{} result(s); texts were cut to fit Lambda's 6 MB payload",
                r.count
            )),
            _ => None,
        }
    }
}

/// `search`.
pub async fn run(
    args: &SearchArgs,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
) -> anyhow::Result<SearchReport> {
    let filter = match &args.filter {
        Some(filter) => Some(serde_json::from_str(filter).context("`--filter` is not valid JSON")?),
        None => None,
    };
    let request = SearchRequest {
        query: args.query.clone(),
        k: Some(args.k),
        filter,
    };
    let client = ApiClient::new(credentials, std::time::Duration::from_secs(60), printer)?;
    Ok(SearchReport(
        client.search(&search_url(endpoint), &request).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(v: serde_json::Value) -> String {
        let mut v = v;
        for r in v["results"].as_array_mut().unwrap() {
            r["id"] = r["document_id"].clone();
        }
        v["count"] = json!(v["results"].as_array().unwrap().len());
        SearchReport(serde_json::from_value(v).unwrap()).to_string()
    }

    #[test]
    fn renders_ranked_results() {
        let v = json!({"results": [
            {"score": 0.61234, "document_id": "d", "text": "Tesla makes\n electric cars", "metadata": {"ticker": "TSLA", "company_name": "Tesla, Inc."}},
            {"score": 0.2, "document_id": "plain", "text": "x".repeat(150), "metadata": {}}
        ], "count": 2});
        let out = render(v);
        assert!(
            out.starts_with(" 1. 0.612  TSLA · Tesla, Inc.\n    Tesla makes electric cars\n"),
            "{out}"
        );
        assert!(out.contains(" 2. 0.200  plain\n    "));
        assert!(out.trim_end().ends_with('…'));
        let hostile = json!({"results": [{"score": 1.0, "document_id": "\u{1b}]0;x\u{7}", "text": "a\u{1b}[31mred", "metadata": {}}]});
        let out = render(hostile);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(out.contains("a\\u{1b}[31mred"), "{out}");
        assert_eq!(
            search_url("http://h/restapis/a/prod/_user_request_/ingest"),
            "http://h/restapis/a/prod/_user_request_/search"
        );
    }
}
