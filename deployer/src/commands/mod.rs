//! One module per subcommand; each returns a [`crate::report::Report`].

pub mod doctor;
pub mod documents;
pub mod down;
pub mod ingest;
pub mod logs;
pub mod output;
pub mod package;
pub mod plan;
pub mod reindex;
pub mod search;
pub mod sync;
pub mod up;
