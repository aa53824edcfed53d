//! The arguments of the commands that talk to the deployed API or read its logs.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files (one document each: text, Markdown, PDF, HTML, DOCX), directories of them,
    /// `s3://BUCKET/PREFIX`, or `.jsonl` files of {text, metadata?, id?}; `-` reads JSONL from
    /// stdin
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The directory file ids are relative to: a file's id is its path under it, whichever
    /// argument named it
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Documents per request
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Requests in flight
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Directories, files and `s3://BUCKET/PREFIX` sources to keep in step with the index
    /// (text, Markdown, PDF, HTML, DOCX; `.jsonl` documents with ids)
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The directory ids and sources are relative to
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Print what would be sent and deleted, with the chunks and tokens to embed and their
    /// estimated cost; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the documents whose files are gone (by default they are deleted: only those this
    /// source synced)
    #[arg(long)]
    pub no_delete: bool,
    /// Documents per request
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Requests in flight
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Where the deployed API is.
#[derive(Debug, Args, Clone)]
pub struct ApiArgs {
    /// API endpoint (default: `ALEX_API_ENDPOINT`, else read from the deployed stack)
    #[arg(long, env = "ALEX_API_ENDPOINT")]
    pub api_endpoint: Option<String>,
    /// API key (default: `ALEX_API_KEY`, else read from the deployed stack)
    #[arg(long, env = "ALEX_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// `documents`.
#[derive(Debug, Args)]
pub struct DocumentsArgs {
    #[command(subcommand)]
    pub action: DocumentsAction,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// What `documents` does.
#[derive(Debug, Subcommand)]
pub enum DocumentsAction {
    /// List the ids of the stored documents
    List,
    /// Print a stored document: its chunks, metadata, timestamp and embedding
    Get {
        /// The document id (a file's path as `ingest` gave it, or the id sent)
        id: String,
    },
    /// Delete a document (every chunk), every document with a chunk matching `--filter`, or
    /// every document (`--all`)
    Delete {
        /// The document id
        #[arg(required_unless_present_any = ["filter", "all"], conflicts_with_all = ["filter", "all"])]
        id: Option<String>,
        /// An S3 Vectors metadata filter, as JSON (e.g. '{"ticker": "TSLA"}'); an empty filter
        /// is refused
        #[arg(long, conflicts_with = "all")]
        filter: Option<String>,
        /// Delete every document of the index
        #[arg(long)]
        all: bool,
    },
}

/// `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query text
    pub query: String,
    /// Number of results (up to 10,000; large answers have their texts cut)
    #[arg(short, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub k: u32,
    /// S3 Vectors metadata filter, as JSON
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Parallel ListVectors segments (each runs its own rounds)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub segments: u32,
    /// Blue/green: copy every document to a new index NEW_INDEX (created like the current
    /// one, `text` non-filterable) without re-embedding, then switch the function to it; the
    /// old index is kept. Search and writes by id keep working; delete by filter waits
    #[arg(long, value_name = "NEW_INDEX", value_parser = super::index_name)]
    pub into: Option<String>,
    /// With --into: change the model. Every chunk is embedded again from its stored text
    /// through this SageMaker endpoint into the new index, and the function switches to it
    #[arg(long, requires = "into", value_name = "ENDPOINT")]
    pub embedding_endpoint: Option<String>,
    /// With --embedding-endpoint: the new model's dimension (default: what the endpoint answers)
    #[arg(long, requires = "embedding_endpoint", value_parser = super::dimension())]
    pub dimension: Option<u32>,
    /// With --into: delete the old index and its vectors once the function has switched
    #[arg(long, requires = "into")]
    pub drop_old: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// How far back to start: 30s, 10m, 2h, 1d
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// Keep printing new events until interrupted
    #[arg(long, short)]
    pub follow: bool,
    /// A CloudWatch Logs filter pattern (e.g. `ERROR` or a request id)
    #[arg(long)]
    pub filter: Option<String>,
}
