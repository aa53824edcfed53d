//! The endpoints of the deployed API, typed with [`shared::api`]: ingest, search, documents,
//! reindex.

use super::{Answer, ApiClient, api_url, failed};
use shared::api::{
    DeleteByFilterRequest, DeleteByFilterResponse, DeleteResponse, DocumentList, DocumentResponse,
    IngestRequest, ReindexRequest, ReindexResponse, SearchRequest, SearchResponse,
};
use shared::routes::Operation;

impl ApiClient {
    /// `POST /ingest` with `request`; the caller decides by status (200 done, 202 send again).
    pub async fn ingest(&self, url: &str, request: &IngestRequest) -> anyhow::Result<Answer> {
        self.post(url, serde_json::to_vec(request)?).await
    }

    /// `POST /search` with `request`: the results, or an error saying why (with the request
    /// id, and the stale-`.env` hint for a 403/404).
    pub async fn search(
        &self,
        url: &str,
        request: &SearchRequest,
    ) -> anyhow::Result<SearchResponse> {
        let answer = self.post(url, serde_json::to_vec(request)?).await?;
        match answer.status {
            200 => answer.decode(),
            _ => Err(failed("search", &answer)),
        }
    }
}

/// The documents of the deployed API (`GET`/`DELETE /documents…`).
impl ApiClient {
    /// One page of document ids.
    pub async fn list_documents(
        &self,
        endpoint: &str,
        next_token: Option<&str>,
    ) -> anyhow::Result<DocumentList> {
        self.list(endpoint, next_token, &[]).await
    }

    /// One page of documents with each one's user metadata (`?metadata=true`).
    pub async fn list_documents_with_metadata(
        &self,
        endpoint: &str,
        next_token: Option<&str>,
    ) -> anyhow::Result<DocumentList> {
        self.list(endpoint, next_token, &["metadata=true"]).await
    }

    async fn list(
        &self,
        endpoint: &str,
        next_token: Option<&str>,
        params: &[&str],
    ) -> anyhow::Result<DocumentList> {
        let mut query: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        if let Some(token) = next_token {
            let token =
                percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC);
            query.push(format!("next_token={token}"));
        }
        let mut url = api_url(endpoint, &Operation::ListDocuments.path(None));
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let answer = self.send(reqwest::Method::GET, &url, None).await?;
        match answer.status {
            200 => answer.decode(),
            _ => Err(failed("listing documents", &answer)),
        }
    }

    /// One document; `None` when it is not stored.
    pub async fn get_document(
        &self,
        endpoint: &str,
        id: &str,
    ) -> anyhow::Result<Option<DocumentResponse>> {
        self.document(Operation::GetDocument, endpoint, id, "reading")
            .await
    }

    /// Deletes one document; `None` when it is not stored.
    pub async fn delete_document(
        &self,
        endpoint: &str,
        id: &str,
    ) -> anyhow::Result<Option<DeleteResponse>> {
        self.document(Operation::DeleteDocument, endpoint, id, "deleting")
            .await
    }

    /// `operation` on `/documents/{id}`: the answer, or `None` for the function's 404.
    async fn document<T: serde::de::DeserializeOwned>(
        &self,
        operation: Operation,
        endpoint: &str,
        id: &str,
        doing: &str,
    ) -> anyhow::Result<Option<T>> {
        if let Some(why) = shared::api::document_id_problem(id) {
            anyhow::bail!(
                "`{}` is not a document id: {why}",
                super::escape_controls(id)
            );
        }
        let url = api_url(endpoint, &operation.path(Some(id)));
        let route = operation.route();
        let method = reqwest::Method::from_bytes(route.method.as_bytes())?;
        let answer = self.send_as(route.access, method, &url, None).await?;
        match answer.status {
            200 => answer.decode().map(Some),
            404 if answer.is_function_error() => Ok(None),
            _ => Err(failed(&format!("{doing} document `{id}`"), &answer)),
        }
    }

    /// One round of delete-by-filter: the answer, and whether the scan is complete (200) or
    /// must be sent again with its `next_token` (202).
    pub async fn delete_by_filter(
        &self,
        endpoint: &str,
        request: &DeleteByFilterRequest,
    ) -> anyhow::Result<(DeleteByFilterResponse, bool)> {
        let url = api_url(endpoint, &Operation::DeleteByFilter.path(None));
        let answer = self
            .post_as(Operation::DeleteByFilter, &url, request)
            .await?;
        match answer.status {
            200 | 202 => Ok((answer.decode()?, answer.status == 200)),
            504 => Err(cut(&url)),
            _ => Err(failed("deleting by filter", &answer)),
        }
    }

    /// One round of reindexing one segment.
    pub async fn reindex(
        &self,
        endpoint: &str,
        request: &ReindexRequest,
    ) -> anyhow::Result<ReindexResponse> {
        let url = api_url(endpoint, &Operation::Reindex.path(None));
        let answer = self.post_as(Operation::Reindex, &url, request).await?;
        match answer.status {
            200 | 202 => answer.decode(),
            504 => Err(cut(&url)),
            _ => Err(failed("reindexing", &answer)),
        }
    }
}

impl ApiClient {
    /// POSTs `request` to `url` with the credential `operation`'s route takes.
    async fn post_as(
        &self,
        operation: Operation,
        url: &str,
        request: &impl serde::Serialize,
    ) -> anyhow::Result<Answer> {
        let access = operation.route().access;
        let body = serde_json::to_vec(request)?;
        self.send_as(access, reqwest::Method::POST, url, Some(body))
            .await
    }
}

/// API Gateway's 504 (it cut the request at 29 s) on a resumable route: like no answer, what
/// the round did is kept, and the caller sends it again.
fn cut(url: &str) -> anyhow::Error {
    super::NoAnswer {
        url: url.to_string(),
        secs: 29,
    }
    .into()
}
