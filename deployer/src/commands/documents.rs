//! `documents list | get ID | delete ID | delete --filter JSON | delete --all`: the stored documents,
//! through the deployed API's document endpoints (see [`crate::api_client`]).

use crate::api_client::{
    ApiClient, Credentials, MAX_CUT_ROUNDS, NoAnswer, REQUEST_TIMEOUT, escape_controls,
};
use crate::cli::DocumentsAction;
use crate::commands::ingest::sources::{PART_KEY, PART_OF_KEY, PARTS_KEY};
use crate::printer::Printer;
use crate::report::Report;
use anyhow::{Context as _, bail};
use serde::Serialize;
use shared::api::{DeleteByFilterRequest, DocumentResponse};
use shared::filter::Filter;
use shared::metadata::NON_FILTERABLE_KEYS;

/// What `documents` did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DocumentsReport {
    /// `list`: every id.
    List {
        /// The ids, sorted.
        document_ids: Vec<String>,
    },
    /// `get`.
    Document(Box<DocumentResponse>),
    /// `delete`: what was removed.
    Deleted {
        /// Documents removed.
        deleted_documents: usize,
        /// Vectors removed.
        deleted_chunks: usize,
        /// Their ids.
        document_ids: Vec<String>,
    },
}

impl std::fmt::Display for DocumentsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::List { document_ids } => document_ids
                .iter()
                .try_for_each(|id| writeln!(f, "{}", escape_controls(id))),
            Self::Document(doc) => {
                writeln!(f, "document_id  {}", escape_controls(&doc.document_id))?;
                let meta = serde_json::to_string(&doc.metadata).unwrap_or_default();
                writeln!(f, "metadata     {}", escape_controls(&meta))?;
                writeln!(
                    f,
                    "timestamp    {}",
                    doc.timestamp.as_deref().unwrap_or("-")
                )?;
                let embedding = doc.embedding.as_deref();
                let embedding = embedding
                    .unwrap_or("none (the original's token-0 vectors: `deployer reindex`)");
                writeln!(f, "embedding    {}", escape_controls(embedding))?;
                writeln!(f, "chunks       {}", doc.chunks.len())?;
                for chunk in &doc.chunks {
                    writeln!(f, "\n[{}] {}", chunk.index, escape_controls(&chunk.text))?;
                }
                Ok(())
            }
            Self::Deleted { .. } => Ok(()),
        }
    }
}

impl Report for DocumentsReport {
    fn summary(&self) -> Option<String> {
        match self {
            Self::List { document_ids } => Some(format!("{} document(s)", document_ids.len())),
            Self::Deleted {
                deleted_documents,
                deleted_chunks,
                ..
            } => Some(format!(
                "deleted {deleted_documents} document(s) ({})",
                crate::printer::count(*deleted_chunks, "chunk")
            )),
            Self::Document(_) => None,
        }
    }
}

/// `documents …`.
pub async fn run(
    action: &DocumentsAction,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
) -> anyhow::Result<DocumentsReport> {
    crate::api_client::check_url(endpoint)?;
    let client = ApiClient::new(credentials, REQUEST_TIMEOUT, printer)?;
    match action {
        DocumentsAction::List => list(&client, endpoint).await,
        DocumentsAction::Get { id } => match client.get_document(endpoint, id).await? {
            Some(doc) => Ok(DocumentsReport::Document(Box::new(doc))),
            None => match get_parts(&client, endpoint, id).await? {
                Some(doc) => Ok(DocumentsReport::Document(Box::new(doc))),
                None => bail!(
                    "document `{}` is not stored\nhint: `deployer documents list` shows the ids",
                    escape_controls(id)
                ),
            },
        },
        DocumentsAction::Delete { id: Some(id), .. } => {
            if let Some(done) = client.delete_document(endpoint, id).await? {
                return Ok(DocumentsReport::Deleted {
                    deleted_documents: 1,
                    deleted_chunks: done.deleted_chunks,
                    document_ids: vec![done.document_id],
                });
            }
            // A file stored in parts: every part goes.
            let parts = serde_json::json!({ PART_OF_KEY: id });
            let deleted = delete_by_filter(&client, endpoint, Some(parts), printer).await?;
            match deleted {
                DocumentsReport::Deleted {
                    deleted_documents: 0,
                    ..
                } => bail!(
                    "document `{}` is not stored; nothing was deleted",
                    escape_controls(id)
                ),
                deleted => Ok(deleted),
            }
        }
        DocumentsAction::Delete { filter, all, .. } => {
            let filter = match filter {
                Some(json) => Some(parse_filter(json)?),
                None if *all => None,
                None => bail!("give a document id, `--filter JSON` or `--all`"),
            };
            delete_by_filter(&client, endpoint, filter, printer).await
        }
    }
}

/// A file stored in parts (its text was over 1 MiB): its parts' chunks in order as one
/// document (the first part's metadata, without the part keys); `None` when it has none.
async fn get_parts(
    client: &ApiClient,
    endpoint: &str,
    id: &str,
) -> anyhow::Result<Option<DocumentResponse>> {
    let mut parts: Vec<(u64, String)> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_documents_with_metadata(endpoint, token.as_deref())
            .await?;
        for (part_id, meta) in page.metadata.unwrap_or_default() {
            if meta.get(PART_OF_KEY).and_then(|v| v.as_str()) == Some(id) {
                let n = meta.get(PART_KEY).and_then(|v| v.as_u64()).unwrap_or(0);
                parts.push((n, part_id));
            }
        }
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    parts.sort();
    let mut whole: Option<DocumentResponse> = None;
    for (_, part_id) in parts {
        let Some(part) = client.get_document(endpoint, &part_id).await? else {
            continue;
        };
        match &mut whole {
            None => {
                let mut first = part;
                first.document_id = id.to_string();
                for key in [PART_OF_KEY, PART_KEY, PARTS_KEY] {
                    first.metadata.remove(key);
                }
                whole = Some(first);
            }
            Some(doc) => {
                let offset = doc.chunks.len();
                doc.texts_cut |= part.texts_cut;
                doc.chunks.extend(part.chunks.into_iter().map(|mut c| {
                    c.index += offset;
                    c
                }));
            }
        }
    }
    Ok(whole)
}

/// `--filter`, checked here as the function checks it (one evaluator: [`shared::filter`]).
fn parse_filter(json: &str) -> anyhow::Result<serde_json::Value> {
    let value = serde_json::from_str(json).context("`--filter` is not valid JSON")?;
    let filter = Filter::parse(value, &NON_FILTERABLE_KEYS).map_err(|why| {
        anyhow::anyhow!(
            "`--filter` is not a valid filter: {why}\nhint: to delete every document, use `--all`"
        )
    })?;
    Ok(filter.into_value())
}

async fn list(client: &ApiClient, endpoint: &str) -> anyhow::Result<DocumentsReport> {
    let mut ids = std::collections::BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let page = client.list_documents(endpoint, token.as_deref()).await?;
        ids.extend(page.document_ids);
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(DocumentsReport::List {
        document_ids: ids.into_iter().collect(),
    })
}

/// Sends the filter until the function has scanned the whole index (each 202 continues).
async fn delete_by_filter(
    client: &ApiClient,
    endpoint: &str,
    filter: Option<serde_json::Value>,
    printer: &Printer,
) -> anyhow::Result<DocumentsReport> {
    let mut request = DeleteByFilterRequest {
        all: filter.is_none(),
        filter,
        next_token: None,
    };
    let (mut documents, mut chunks, mut ids) = (0, 0, Vec::new());
    let mut cut = 0;
    loop {
        let (round, done) = match client.delete_by_filter(endpoint, &request).await {
            Ok(answer) => answer,
            // Cut at 29 s or lost: what it deleted is gone; the same request continues.
            Err(e) if e.is::<NoAnswer>() && cut < MAX_CUT_ROUNDS => {
                cut += 1;
                printer.step("delete  the round got no answer; sending it again");
                continue;
            }
            Err(e) => return Err(e),
        };
        cut = 0;
        documents += round.deleted_documents;
        chunks += round.deleted_chunks;
        ids.extend(round.document_ids);
        if done {
            break;
        }
        printer.step(&format!(
            "delete  {documents} document(s) so far, continuing"
        ));
        request.next_token = round.next_token;
    }
    Ok(DocumentsReport::Deleted {
        deleted_documents: documents,
        deleted_chunks: chunks,
        document_ids: ids,
    })
}
