//! What API Gateway's REST APIs and API keys share: their names are not unique, so they are
//! found by name and kept in one order every run agrees on (oldest first, then id), judged by
//! their tags, and tagged through their resource path.

use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Applier, tags};
use anyhow::anyhow;
use std::collections::HashMap;

/// An API Gateway resource found by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    /// Its id.
    pub id: String,
    /// Enabled (API keys; always true for REST APIs).
    pub enabled: bool,
    /// Whether it carries this stack's tags ([`crate::ownership`]).
    pub managed: bool,
    /// Its tags.
    pub tags: HashMap<String, String>,
}

/// One listed item: name, id, creation time (seconds), enabled, tags.
pub type Listed<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    i64,
    bool,
    Option<&'a HashMap<String, String>>,
);

/// The items named `name`, in keep-order (oldest first, then id).
pub fn named<'a>(ctx: &Ctx, name: &str, items: impl Iterator<Item = Listed<'a>>) -> Vec<Named> {
    let mut all: Vec<(i64, Named)> = items
        .filter(|(n, ..)| *n == Some(name))
        .filter_map(|(_, id, created, enabled, tags)| {
            let named = Named {
                id: id?.to_string(),
                enabled,
                managed: crate::ownership::owned(ctx, tags),
                tags: tags.cloned().unwrap_or_default(),
            };
            Some((created, named))
        })
        .collect();
    all.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    all.into_iter().map(|(_, n)| n).collect()
}

/// What [`crate::ownership`] sees of `found`.
pub fn seen(ctx: &Ctx, kind: Kind, name: &str, found: &[Named]) -> Vec<Seen> {
    found
        .iter()
        .map(|f| Seen::new(ctx, kind, name, Some(&f.id), Some(&f.tags)))
        .collect()
}

/// Tags the API Gateway resource at `path` (`/restapis/{id}`, `/apikeys/{id}`, ...).
pub async fn tag_path(a: &Applier<'_>, path: &str) -> anyhow::Result<()> {
    a.apigw
        .tag_resource()
        .resource_arn(a.apigateway_arn(path))
        .set_tags(Some(tags(a)))
        .send()
        .await
        .map_err(|e| anyhow!(crate::aws_error::describe(&e)))?;
    Ok(())
}
