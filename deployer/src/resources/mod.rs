//! One module per AWS resource, each in three steps: **read** the current state, compute a
//! **pure diff** against the desired state (typed edits, unit-tested without AWS) — together
//! its `plan`, which takes only the [`Ctx`] and so cannot change anything — then **apply** the
//! edits, which takes an [`Applier`]: only [`crate::stack`]'s `apply` and `destroy` make one.
//! `delete` treats not-found as success.
//!
//! Each module also declares its [`Resource`] (kind, seen, tag, delete), which
//! [`crate::stack`] lists once and iterates for the ownership survey, `--adopt` and `down`.
//!
//! Shared vocabulary: [`Change`] (what `up`, `plan` and `down` report), [`Action`], [`Planned`]
//! (an id that exists, or a resource the plan creates), [`tags`] (the stack's tags).

pub mod api_key;
pub mod apigw;
pub mod function;
pub mod log_group;
pub mod permission;
pub mod rest_api;
pub mod role;
pub mod usage_plan;
pub mod vector_store;

use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use futures::future::BoxFuture;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// The capability to change AWS, and the log of the changes made with it. Only
/// [`crate::stack`]'s `apply` and `destroy` make one; everything a resource module does with
/// a plain [`Ctx`] only reads.
pub struct Applier<'a> {
    ctx: &'a Ctx,
    made: Mutex<Vec<Change>>,
}

impl<'a> Applier<'a> {
    /// For [`crate::stack`] only: the one place that applies a plan.
    pub(crate) fn for_stack(ctx: &'a Ctx) -> Self {
        Self {
            ctx,
            made: Mutex::new(Vec::new()),
        }
    }

    /// Shows and records a change about to be made.
    pub fn record(&self, action: Action, resource: impl Into<String>, detail: impl Into<String>) {
        self.made_now(Change::new(action, resource, detail));
    }

    /// Shows and records `change`, about to be made.
    pub fn made_now(&self, change: Change) {
        self.ctx.printer.step(&change.to_string());
        if let Ok(mut made) = self.made.lock() {
            made.push(change);
        }
    }

    /// The changes made so far, in order.
    pub fn made(&self) -> Vec<Change> {
        self.made.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl std::ops::Deref for Applier<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.ctx
    }
}

/// Reads the resources of a kind that have the stack's names.
pub type SeenFn = for<'a> fn(&'a Ctx) -> BoxFuture<'a, anyhow::Result<Vec<Seen>>>;
/// Acts on one resource (by id; the name for kinds whose names are unique).
pub type ActFn = for<'a> fn(&'a Applier<'a>, &'a str) -> BoxFuture<'a, anyhow::Result<()>>;

/// The contract every kind of resource of the stack declares once, in its own module; the
/// stack's table of them ([`crate::stack::RESOURCES`]) is the one list of what the stack has,
/// in creation order (`down` goes backwards).
pub struct Resource {
    /// Its kind (label, whether names are unique).
    pub kind: Kind,
    /// Whether it holds the user's data (`down` keeps it unless `--delete-data`).
    pub holds_data: bool,
    /// The same-named resources, judged by their tags.
    pub seen: SeenFn,
    /// Tags one as the stack's (`--adopt`).
    pub tag: ActFn,
    /// Deletes one the stack owns (not-found is success).
    pub delete: ActFn,
}

/// What a change does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The resource is created.
    Create,
    /// The resource is changed in place (or adopted: tagged as the stack's).
    Update,
    /// The resource is deleted.
    Delete,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        })
    }
}

/// A change `up` makes, `plan` reports, `down` makes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// What it does.
    pub action: Action,
    /// e.g. `lambda function alex-ingest`.
    pub resource: String,
    /// What differs, field by field (`memory: 256 -> 128 MB`).
    pub detail: String,
}

impl Change {
    /// A change to `resource`.
    pub fn new(action: Action, resource: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            action,
            resource: resource.into(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<7} {} {}", self.action, self.resource, self.detail)
    }
}

/// The id of a resource another one depends on: it exists, or `plan` would create it (and
/// nothing that depends on it can be read yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned<T> {
    /// The resource exists (or was just created) with this id.
    Existing(T),
    /// `plan` would create it.
    ToCreate,
}

impl<T> Planned<T> {
    /// The id, when the resource exists.
    pub fn existing(&self) -> Option<&T> {
        match self {
            Planned::Existing(id) => Some(id),
            Planned::ToCreate => None,
        }
    }
}

/// `a; b; c`: the detail of a change made of several field differences.
pub fn joined<T: std::fmt::Display>(diffs: &[T]) -> String {
    diffs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The tags every taggable resource of the stack carries (`stack`, `managed-by`).
pub fn tags(ctx: &Ctx) -> HashMap<String, String> {
    HashMap::from([
        ("stack".to_string(), ctx.names.stack.clone()),
        (
            "managed-by".to_string(),
            crate::ownership::MANAGED_BY.to_string(),
        ),
    ])
}

/// [`tags`] in IAM's shape.
pub fn iam_tags(ctx: &Ctx) -> anyhow::Result<Vec<aws_sdk_iam::types::Tag>> {
    let mut out = Vec::new();
    for (k, v) in tags(ctx) {
        out.push(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?);
    }
    out.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(out)
}

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

/// Marker error: API Gateway refused to deploy a definition that is not complete yet (a
/// concurrent run created a method and has not put its integration). Callers converge the
/// definition again and retry.
#[derive(Debug, thiserror::Error)]
#[error("{0} is still being defined (a concurrent run?)")]
pub struct Incomplete(pub String);

/// Whether `err` is (or wraps) [`Incomplete`].
pub fn is_incomplete(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<Incomplete>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_prints_as_plan_shows_it() {
        let c = Change {
            action: Action::Update,
            resource: "lambda function f".into(),
            detail: "memory: 256 -> 128 MB".into(),
        };
        assert_eq!(
            c.to_string(),
            "update  lambda function f memory: 256 -> 128 MB"
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap()["action"],
            serde_json::json!("update")
        );
        assert_eq!(Planned::Existing(3).existing(), Some(&3));
        assert_eq!(Planned::<u8>::ToCreate.existing(), None);
    }
}
