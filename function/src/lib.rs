//! The ingest + search Lambda. [`handler`] is the HTTP edge: it routes API Gateway requests,
//! parses their bodies into typed requests and runs the domain functions ([`ingest`],
//! [`search`], [`documents`], [`reindex`]), which embed text through a SageMaker endpoint
//! ([`embed`]) and write/query S3 Vectors ([`store`]) through a [`backend::Backend`], and
//! return a [`domain::Outcome`] or an [`error::DomainError`]. `main.rs` only reads the
//! [`config::Config`], builds the clients and the [`handler::App`] once, and runs the runtime.
#![warn(missing_docs)]

pub mod answer;
pub mod aws;
pub mod backend;
pub mod config;
pub mod documents;
pub mod domain;
pub mod embed;
pub mod error;
pub mod handler;
pub mod ingest;
pub mod mirror;
pub mod reindex;
pub mod search;
pub mod store;
