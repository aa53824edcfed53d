//! One module per AWS resource: `ensure` reads the current state and then creates, updates in
//! place or leaves the resource alone (recording each change on the context, so `plan` runs
//! the same code without mutating); `delete` treats not-found as success.

pub mod api_key;
pub mod function;
pub mod log_group;
pub mod permission;
pub mod rest_api;
pub mod role;
pub mod usage_plan;
pub mod vector_store;

/// Placeholder id of a resource `plan` would create.
pub const NEW: &str = "(new)";

/// How long to keep retrying API Gateway quota throttling (DeleteRestApi is 1 per 30 s).
pub const QUOTA_BUDGET: std::time::Duration = std::time::Duration::from_secs(180);

/// Marker error: a resource this run picked was deleted meanwhile (a concurrent run settled
/// on another duplicate). Callers start that resource over from its listing.
#[derive(Debug, thiserror::Error)]
#[error("{0} was deleted while it was being configured (a concurrent run?)")]
pub struct Gone(pub String);

/// Whether `err` is (or wraps) [`Gone`].
pub fn is_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<Gone>().is_some())
}
