//! Command-line interface (clap derive): the doc comments are the help text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub use crate::model::{Arch, EndpointProfile, IndexMode, Metric};

mod api;

pub use api::{
    ApiArgs, DocumentsAction, DocumentsArgs, IngestArgs, LogsArgs, ReindexArgs, SearchArgs,
    SyncArgs,
};

/// Deploy, converge and remove the alex document ingestion and semantic-search stack on AWS
#[derive(Debug, Parser)]
#[command(name = "deployer", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Stack name: the prefix of every resource name
    #[arg(long, global = true, default_value = shared::names::DEFAULT_STACK, env = "ALEX_STACK", value_parser = stack_name)]
    pub name: String,
    /// AWS region (default: the profile's, `AWS_REGION`, or `DEFAULT_AWS_REGION` from `.env`)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile from the shared config/credentials files (SSO included)
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. the local AWS)
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// More log output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors only
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or converge the whole stack
    Up(UpArgs),
    /// Show what `up` would create, update or delete, changing nothing
    Plan(PlanArgs),
    /// Remove the stack except the vector bucket and index (the data)
    Down(DownArgs),
    /// Print the endpoints, the API key and the resource names of a deployed stack
    Output(OutputArgs),
    /// Send documents to the deployed API
    Ingest(IngestArgs),
    /// Keep the index in step with directories and files: send new and changed files only,
    /// delete the documents of files that are gone (`--dry-run` prints the plan and its cost)
    Sync(SyncArgs),
    /// Search the deployed API
    Search(SearchArgs),
    /// List, read and delete the stored documents through the deployed API
    Documents(DocumentsArgs),
    /// Print the function's log events (its CloudWatch Logs group)
    Logs(LogsArgs),
    /// Check credentials, the endpoint, the index, drift and permissions; exit 0 when healthy
    Doctor(DoctorArgs),
    /// Re-embed every stored chunk that predates the current embedding (and migrate the
    /// original stack's token-0 vectors), through the deployed API; safe to run again
    Reindex(ReindexArgs),
    /// Build the function and write the deployment zip `up` would upload (for `up --zip`)
    Package(PackageArgs),
}

pub(crate) fn kms_key_arn(arn: &str) -> Result<String, String> {
    if crate::model::is_kms_key_arn(arn) {
        Ok(arn.to_string())
    } else {
        Err("not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; aliases and bare key ids are not accepted by S3 Vectors)".into())
    }
}

pub(crate) fn stack_name(name: &str) -> Result<String, String> {
    match shared::names::stack_name_problem(name) {
        Some(rule) => Err(rule),
        None => Ok(name.to_string()),
    }
}

pub(crate) fn index_name(name: &str) -> Result<String, String> {
    match shared::names::index_name_problem(name) {
        Some(rule) => Err(rule),
        None => Ok(name.to_string()),
    }
}

pub(crate) fn log_retention_days(days: &str) -> Result<i32, String> {
    use shared::names::LOG_RETENTION_DAYS;
    days.parse::<i32>()
        .ok()
        .filter(|d| LOG_RETENTION_DAYS.contains(d))
        .ok_or_else(|| {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(i32::to_string).collect();
            format!(
                "CloudWatch Logs keeps logs for one of {} days",
                allowed.join(", ")
            )
        })
}

/// Embedding dimension: 1 to 4,096 (S3 Vectors' range).
pub(crate) fn dimension() -> impl clap::builder::TypedValueParser<Value = u32> {
    clap::value_parser!(u32).range(1..=4096)
}

/// Lambda memory in MB: 128 to 10,240.
pub(crate) fn memory_mb() -> impl clap::builder::TypedValueParser<Value = u32> {
    clap::value_parser!(u32).range(128..=10240)
}

/// Lambda timeout in seconds: 1 to 29 (API Gateway's integration timeout).
pub(crate) fn timeout_s() -> impl clap::builder::TypedValueParser<Value = u32> {
    clap::value_parser!(u32).range(1..=29)
}

/// A usage plan's steady-state rate: a number.
pub(crate) fn rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r >= 0.0)
        .ok_or_else(|| "not a number of requests per second".to_string())
}

/// `package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Where to write the zip
    #[arg(long, short, default_value = "alex-function.zip")]
    pub out: PathBuf,
    /// Lambda architecture
    #[arg(long, value_enum, default_value_t = Arch::host())]
    pub arch: Arch,
}

/// How the stack is configured; every flag has the original setup's default.
#[derive(Debug, Args, Clone)]
pub struct StackArgs {
    /// SageMaker embedding endpoint name
    #[arg(long, env = "SAGEMAKER_ENDPOINT", default_value = shared::names::DEFAULT_EMBEDDING_ENDPOINT)]
    pub embedding_endpoint: String,
    /// Vector index name
    #[arg(long, default_value = shared::names::DEFAULT_INDEX, value_parser = index_name)]
    pub index_name: String,
    /// Embedding dimension of the index
    #[arg(long, default_value_t = shared::names::DEFAULT_DIMENSION, value_parser = dimension())]
    pub dimension: u32,
    /// Distance metric of the index
    #[arg(long, value_enum, default_value_t = Metric::Cosine)]
    pub metric: Metric,
    /// Index mode (default: the bucket's; ENHANCED for buckets created since 2026-09-30); an
    /// existing CLASSIC index is switched to ENHANCED in place
    #[arg(long, value_enum)]
    pub index_mode: Option<IndexMode>,
    /// Encrypt a new vector bucket with this KMS key (a key ARN; symmetric keys only). The
    /// encryption of an existing bucket cannot change
    #[arg(long, value_name = "KEY_ARN", value_parser = kms_key_arn)]
    pub kms_key: Option<String>,
    /// Lambda memory in MB
    #[arg(long, default_value_t = 128, value_parser = memory_mb())]
    pub memory: u32,
    /// Lambda timeout in seconds (at most 29: API Gateway cuts a REST integration at 29 s, and
    /// the function stops in time to answer; long documents finish over several requests)
    #[arg(long, default_value_t = 28, value_parser = timeout_s())]
    pub timeout: u32,
    /// How the embedding endpoint is deployed: serverless (4 MiB answers) or realtime
    /// (6 MiB); sizes the function's embedding calls; sticks for later `up`s [default: read
    /// from the endpoint, else serverless as in the original setup]
    #[arg(long, value_enum)]
    pub endpoint_profile: Option<EndpointProfile>,
    /// Embedding calls the function keeps in flight at most; sticks for later `up`s
    /// [default: the endpoint's serverless MaxConcurrency, else 2 as in the original setup]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub endpoint_max_concurrency: Option<u32>,
    /// Forget the endpoint settings earlier flags pinned (they otherwise stick across `up`s)
    /// and read them from the endpoint again
    #[arg(long)]
    pub unpin_endpoint_settings: bool,
    /// Lambda architecture
    #[arg(long, value_enum, default_value_t = Arch::host())]
    pub arch: Arch,
    /// Log retention in days: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    /// 1096, 1827, 2192, 2557, 2922, 3288 or 3653 (CloudWatch Logs accepts only these)
    #[arg(long, default_value_t = 7, value_parser = log_retention_days)]
    pub log_retention_days: i32,
    /// Usage plan quota: requests per month
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i32))]
    pub quota: i32,
    /// Usage plan steady-state rate (requests per second)
    #[arg(long, default_value_t = 100.0, value_parser = rate)]
    pub rate: f64,
    /// Usage plan burst
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(i32))]
    pub burst: i32,
    /// Also make a search-only key: a second REST API (`{name}-search-api`) that serves only
    /// POST /search and GET /documents…, with a key and usage plan of its own (`output`
    /// prints them). It sticks; `--search-key=false` deletes them
    #[arg(
        long,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = false,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub search_key: bool,
    /// Upload this prebuilt zip instead of building the function
    #[arg(long)]
    pub zip: Option<PathBuf>,
    /// Take over same-named resources that lack the stack's tags (e.g. made by the original
    /// Terraform setup) by tagging them; without it `up` refuses to change them
    #[arg(long)]
    pub adopt: bool,
}

/// `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Show the plan `up` would apply (what `plan` prints) and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Exit 0 when nothing would change, 2 when something would, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also delete the vector index and bucket (all ingested documents)
    #[arg(long)]
    pub delete_data: bool,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// Vector index name
    #[arg(long, default_value = shared::names::DEFAULT_INDEX, value_parser = index_name)]
    pub index_name: String,
}

/// `output`.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print `VECTOR_BUCKET=`, `ALEX_API_ENDPOINT=`, `ALEX_API_KEY=` lines
    #[arg(long, conflicts_with = "write_env")]
    pub env: bool,
    /// Upsert those lines into this `.env` file (other lines kept, mode 0600)
    #[arg(long, value_name = "PATH")]
    pub write_env: Option<PathBuf>,
    /// Print the API key's value in the text output (it is masked unless asked; `--json` and
    /// `--env` always include it)
    #[arg(long, conflicts_with_all = ["env", "write_env"])]
    pub show_key: bool,
    /// Vector index name
    #[arg(long, default_value = shared::names::DEFAULT_INDEX, value_parser = index_name)]
    pub index_name: String,
}

/// `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}
