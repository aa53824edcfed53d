//! One module per subcommand.

pub mod down;
pub mod ingest;
pub mod output;
pub mod plan;
pub mod search;
pub mod up;
