//! Types and pure logic shared by the Lambda function (`function/`) and the deployer
//! (`deployer/`): the HTTP API's routes and request/response types, the document's key format
//! and write protocol, filter semantics, S3 Vectors limits, metadata validation, token-exact
//! chunking, and decoding of the embedding endpoint's output.
//!
//! Nothing here talks to AWS; everything is unit-tested with hand-made inputs.
#![warn(missing_docs)]

pub mod api;
pub mod bounded;
pub mod chunk;
pub mod document;
pub mod embedding;
pub mod filter;
pub mod limits;
pub mod metadata;
pub mod names;
pub mod routes;
pub mod tokenize;
