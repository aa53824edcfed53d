//! The ingest + search Lambda: routes API Gateway requests to [`ingest`] and [`search`],
//! which embed text through a SageMaker endpoint and write/query S3 Vectors through a
//! [`backend::Backend`]. `main.rs` only wires configuration, clients and the runtime.
#![warn(missing_docs)]

pub mod answer;
pub mod aws;
pub mod backend;
pub mod config;
pub mod documents;
pub mod embed;
pub mod error;
pub mod handler;
pub mod ingest;
pub mod reindex;
pub mod search;
pub mod store;
