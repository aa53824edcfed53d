//! What API Gateway's REST APIs and API keys share: their names are not unique, so they are
//! found by name and kept in one order every run agrees on (oldest first, then id), judged by
//! their tags, and tagged through their resource path. The stack has one or two REST APIs,
//! each a [`Surface`] with its own key and usage plan.

use crate::context::Ctx;
use crate::ownership::{Kind, Seen};
use crate::resources::{Applier, tags};
use anyhow::anyhow;
use shared::names::StackNames;
use shared::routes::{Access, ROUTES, Route};
use std::collections::HashMap;

/// One of the stack's REST APIs, with the key and usage plan that reach it. What a key can
/// call is what its API serves: API Gateway answers a path an API does not have with 403
/// before any key or function is involved, so the search-only key cannot ingest or delete by
/// construction (a usage plan's key reaches every keyed method of the stages it is bound
/// to, a stage serves the whole API, and a resource policy cannot tell keys apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `{stack}-api`: every route, its key, its usage plan.
    Main,
    /// `{stack}-search-api` (`up --search-key`): only the routes that read
    /// ([`Access::Read`]), with a key and usage plan of its own.
    Search,
}

impl Surface {
    /// Its REST API's name.
    pub fn api(self, names: &StackNames) -> &str {
        match self {
            Surface::Main => &names.api,
            Surface::Search => &names.search_api,
        }
    }

    /// Its key's name.
    pub fn key(self, names: &StackNames) -> &str {
        match self {
            Surface::Main => &names.api_key,
            Surface::Search => &names.search_api_key,
        }
    }

    /// Its usage plan's name.
    pub fn usage_plan(self, names: &StackNames) -> &str {
        match self {
            Surface::Main => &names.usage_plan,
            Surface::Search => &names.search_usage_plan,
        }
    }

    /// The routes its API serves.
    pub fn routes(self) -> Vec<Route> {
        ROUTES
            .into_iter()
            .filter(|r| self == Surface::Main || r.access == Access::Read)
            .collect()
    }

    /// The kinds of its API, key and usage plan.
    pub fn kinds(self) -> [Kind; 3] {
        match self {
            Surface::Main => [Kind::RestApi, Kind::ApiKey, Kind::UsagePlan],
            Surface::Search => [Kind::SearchApi, Kind::SearchApiKey, Kind::SearchUsagePlan],
        }
    }

    /// What its Lambda permission statement ids start with (`{stack}-apigateway-`).
    pub fn statement_prefix(self, names: &StackNames) -> String {
        match self {
            Surface::Main => format!("{}-apigateway-", names.stack),
            Surface::Search => format!("{}-search-apigateway-", names.stack),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_surface_serves_only_reads_under_names_of_its_own() {
        let names = StackNames::new("alex", "123456789012", "financial-research");
        let paths = |s: Surface| {
            s.routes()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(Surface::Search),
            ["POST /search", "GET /documents", "GET /documents/{id+}"]
        );
        assert_eq!(Surface::Main.routes(), ROUTES);
        assert_eq!(Surface::Search.api(&names), "alex-search-api");
        assert_eq!(Surface::Search.key(&names), "alex-search-key");
        assert_eq!(Surface::Search.usage_plan(&names), "alex-search-usage-plan");
        assert_eq!(Surface::Main.api(&names), "alex-api");
        // Neither surface's statements are mistaken for the other's.
        let (main, search) = (
            Surface::Main.statement_prefix(&names),
            Surface::Search.statement_prefix(&names),
        );
        assert!(!search.starts_with(&main) && !main.starts_with(&search));
    }
}
