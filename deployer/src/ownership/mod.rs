//! The one ownership rule: the stack owns exactly the resources that carry its tags
//! (`managed-by = alex-deployer` and `stack = <stack name>`).
//!
//! An AWS account holds other things, some with the stack's names (the original Terraform
//! stack, a colleague's test, another tool). Before `up` changes anything it reads every
//! same-named resource (the survey in [`crate::stack`]) and [`decide`]s:
//! - a unique name (role, function, log group, bucket, index) held by an untagged resource:
//!   refused — every such resource is named in one error, with a hint — unless `--adopt`,
//!   which tags it and so takes it over (users migrating from the original stack need this);
//! - a non-unique name (REST API, API key, usage plan): the stack's own ones are used and
//!   their duplicates settled among them only; untagged ones are left alone, and only when
//!   the stack owns none is the oldest untagged one refused or, with `--adopt`, taken over.
//!
//! `down` deletes only what the stack owns and lists the same-named resources it left alone.

use crate::context::Ctx;
use std::collections::HashMap;

/// Value of the `managed-by` tag on everything the deployer creates.
pub const MANAGED_BY: &str = "alex-deployer";

/// The kinds of resources the stack has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The vector bucket.
    Bucket,
    /// The vector index.
    Index,
    /// The function's IAM role.
    Role,
    /// The function's log group.
    LogGroup,
    /// The Lambda function.
    Function,
    /// The REST API (names are not unique).
    RestApi,
    /// The API key (names are not unique).
    ApiKey,
    /// The usage plan (names are not unique).
    UsagePlan,
    /// The search-only REST API (`up --search-key`; names are not unique).
    SearchApi,
    /// The search-only key.
    SearchApiKey,
    /// The search-only key's usage plan.
    SearchUsagePlan,
}

impl Kind {
    /// How messages name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Bucket => "vector bucket",
            Self::Index => "vector index",
            Self::Role => "iam role",
            Self::LogGroup => "log group",
            Self::Function => "lambda function",
            Self::RestApi | Self::SearchApi => "rest api",
            Self::ApiKey | Self::SearchApiKey => "api key",
            Self::UsagePlan | Self::SearchUsagePlan => "usage plan",
        }
    }

    /// Whether AWS lets several resources of this kind share a name.
    pub fn names_are_unique(self) -> bool {
        !matches!(
            self,
            Self::RestApi
                | Self::ApiKey
                | Self::UsagePlan
                | Self::SearchApi
                | Self::SearchApiKey
                | Self::SearchUsagePlan
        )
    }
}

/// A resource found under one of the stack's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its id where names are not unique (REST API, key, plan).
    pub id: Option<String>,
    /// Whether it carries the stack's tags.
    pub owned: bool,
    /// The `managed-by`/`stack` tags it carries when they name another stack.
    pub other_stack: Option<String>,
}

impl Seen {
    /// A resource as read, judged by its tags.
    pub fn new(
        ctx: &Ctx,
        kind: Kind,
        name: &str,
        id: Option<&str>,
        tags: Option<&HashMap<String, String>>,
    ) -> Self {
        let other_stack = tags
            .filter(|t| t.get("managed-by").is_some_and(|v| v == MANAGED_BY))
            .and_then(|t| t.get("stack"))
            .filter(|s| **s != ctx.names.stack)
            .cloned();
        Self {
            kind,
            name: name.to_string(),
            id: id.map(str::to_string),
            owned: owned(ctx, tags),
            other_stack,
        }
    }

    /// `rest api alex-api (a1b2c3)`.
    pub fn describe(&self) -> String {
        match &self.id {
            Some(id) => format!("{} {} ({id})", self.kind.label(), self.name),
            None => format!("{} {}", self.kind.label(), self.name),
        }
    }
}

/// Whether `tags` mark a resource as this stack's.
pub fn owned(ctx: &Ctx, tags: Option<&HashMap<String, String>>) -> bool {
    tags.is_some_and(|t| {
        t.get("managed-by").is_some_and(|v| v == MANAGED_BY)
            && t.get("stack").is_some_and(|v| *v == ctx.names.stack)
    })
}

/// Tags as a map, from the `(key, value)` pairs some SDKs return.
pub fn tag_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> HashMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What `up` does with the same-named resources it found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Untagged resources to tag and so take over (`--adopt`).
    pub adopt: Vec<Seen>,
    /// Untagged resources neither used nor changed.
    pub left_alone: Vec<Seen>,
}

/// Decides, without calling AWS, what `up` may do with `seen`; the error names every
/// resource it would have to take over.
pub fn decide(seen: &[Seen], adopt: bool) -> Result<Decision, Vec<Seen>> {
    let mut decision = Decision::default();
    let mut refused = Vec::new();
    let mut kinds: Vec<Kind> = seen.iter().map(|s| s.kind).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of_kind = || seen.iter().filter(move |s| s.kind == kind);
        let mut untagged = of_kind().filter(|s| !s.owned).cloned();
        if !kind.names_are_unique() && of_kind().any(|s| s.owned) {
            decision.left_alone.extend(untagged);
            continue;
        }
        // Unique names have at most one; for the others the oldest is taken over.
        if let Some(first) = untagged.next() {
            if adopt && first.other_stack.is_none() {
                decision.adopt.push(first);
            } else {
                refused.push(first);
            }
        }
        decision.left_alone.extend(untagged);
    }
    if refused.is_empty() {
        Ok(decision)
    } else {
        Err(refused)
    }
}

/// The refusal of `up` for `refused`.
pub fn refusal(refused: &[Seen]) -> anyhow::Error {
    let mut lines = vec![format!(
        "refusing to change {} resource(s) this stack did not create (they lack the tags managed-by={MANAGED_BY}, stack=<name>):",
        refused.len()
    )];
    for s in refused {
        match &s.other_stack {
            Some(other) => lines.push(format!("  {} (belongs to stack `{other}`)", s.describe())),
            None => lines.push(format!("  {}", s.describe())),
        }
    }
    lines.push(
        "hint: if they are yours (e.g. made by the original Terraform setup), run `deployer up --adopt` to take them over; otherwise pick other names with `--name`, or remove them yourself".to_string(),
    );
    anyhow::anyhow!(lines.join("\n"))
}

#[cfg(test)]
mod tests;
