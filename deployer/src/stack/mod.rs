//! The stack as a whole, in two phases. [`plan`] reads every resource and diffs it with the
//! [`Spec`]: it takes only the [`Ctx`], so it cannot change anything, and returns a [`Plan`],
//! a value of each resource's typed edits (what `plan`, `doctor` and `up --dry-run` print).
//! [`apply`] makes a plan — the only code that changes AWS, with the
//! [`crate::resources::Applier`] only this module makes — in dependency order, resolving what
//! the plan could only call "to be created" (the REST API's id for its stage, permissions and
//! usage plan) as it goes. `down` is the same pair: [`teardown`] then [`destroy`].
//!
//! The API side is planned per [`Surface`]: the main REST API with its key and usage plan, and
//! with `--search-key` a second, search-only one ([`SurfacePlan`]); turned off, the
//! search-only one's resources and Lambda permissions are planned for deletion.
//!
//! [`RESOURCES`] is the one list of what the stack has: the ownership survey, `--adopt` and
//! `down` iterate it. Adding a resource is its module (with its [`Resource`] entry and its
//! plan/apply) plus one line here.

mod apply;
pub mod blue_green;
mod probe;
mod spec;

pub use apply::{apply, destroy};
pub use probe::{Probe, artifact, new_model, preflight, probe};
pub use spec::Spec;

use crate::context::Ctx;
use crate::ownership::{self, Kind, Seen};
use crate::resources::Planned;
use crate::resources::apigw::Surface;
use crate::resources::{
    Action, Change, Resource, api_key, function, log_group, permission, rest_api, role, usage_plan,
    vector_store,
};
use serde::Serialize;

/// Every kind of resource the stack has, in creation order (`down` deletes backwards).
pub const RESOURCES: [&Resource; 11] = [
    &vector_store::BUCKET,
    &vector_store::INDEX,
    &role::RESOURCE,
    &log_group::RESOURCE,
    &function::RESOURCE,
    &rest_api::RESOURCE,
    &api_key::RESOURCE,
    &usage_plan::RESOURCE,
    &rest_api::SEARCH_RESOURCE,
    &api_key::SEARCH_RESOURCE,
    &usage_plan::SEARCH_RESOURCE,
];

/// The table's entry for `kind`.
fn resource(kind: Kind) -> anyhow::Result<&'static Resource> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.kind == kind)
        .ok_or_else(|| anyhow::anyhow!("no resource of kind {kind:?} in the stack's table"))
}

/// Reads every resource that has one of the stack's names (every kind at once).
pub async fn survey(ctx: &Ctx) -> anyhow::Result<Vec<Seen>> {
    let found = futures::future::try_join_all(RESOURCES.iter().map(|r| (r.seen)(ctx))).await?;
    Ok(found.into_iter().flatten().collect())
}

/// What `up` would do, resource by resource: a value, made without changing anything.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) spec: Spec,
    pub(crate) adopt: Vec<Seen>,
    pub(crate) boundary: bool,
    pub(crate) vectors: vector_store::Plan,
    pub(crate) log_group: Option<log_group::Edit>,
    pub(crate) role: role::Plan,
    pub(crate) function: function::Plan,
    pub(crate) api: SurfacePlan,
    pub(crate) search: SearchPlan,
    changes: Vec<Change>,
}

/// One REST API's share of a plan: the API, the Lambda permissions of its routes, its key and
/// the usage plan that binds the key to its stage.
#[derive(Debug, Clone)]
pub struct SurfacePlan {
    pub(crate) rest_api: rest_api::Plan,
    pub(crate) permission: permission::Plan,
    pub(crate) api_key: api_key::Plan,
    pub(crate) usage_plan: usage_plan::Plan,
}

impl SurfacePlan {
    fn changes(&self, ctx: &Ctx) -> Vec<Change> {
        let surface = self.rest_api.surface;
        rest_api::changes(ctx, &self.rest_api)
            .into_iter()
            .chain(permission::changes(ctx, &self.permission))
            .chain(api_key::changes(ctx, surface, &self.api_key))
            .chain(usage_plan::changes(ctx, &self.usage_plan))
            .collect()
    }
}

/// The search-only API (`--search-key`).
#[derive(Debug, Clone)]
pub enum SearchPlan {
    /// Wanted: made like the main one.
    On(Box<SurfacePlan>),
    /// Not wanted: what the stack has of it is deleted (usage plan, key, API, in that order)
    /// and its Lambda permissions removed.
    Off {
        /// The stack's own search-only resources, in deletion order.
        retire: Vec<Seen>,
        /// The removal of its permissions.
        permission: permission::Plan,
    },
}

impl SearchPlan {
    fn changes(&self, ctx: &Ctx) -> Vec<Change> {
        match self {
            SearchPlan::On(surface) => surface.changes(ctx),
            SearchPlan::Off { retire, permission } => retire
                .iter()
                .map(|s| Change::new(Action::Delete, s.describe(), "(--search-key is off)"))
                .chain(permission::changes(ctx, permission))
                .collect(),
        }
    }
}

/// Plans `surface`'s API, key, permissions and usage plan for the function `function_arn`.
async fn plan_surface(
    ctx: &Ctx,
    surface: Surface,
    function_arn: &str,
    limits: usage_plan::Limits,
    adopting: &[String],
    statements: &[serde_json::Value],
) -> anyhow::Result<SurfacePlan> {
    let (rest_api, api_key) = tokio::try_join!(
        rest_api::plan(ctx, surface, function_arn, adopting),
        api_key::plan(ctx, surface, adopting),
    )?;
    let (api_id, key_id) = (rest_api.id(), api_key.id());
    let permission = permission::plan(ctx, surface, &api_id, &surface.routes(), statements);
    let usage_plan = usage_plan::plan(ctx, surface, &api_id, &key_id, limits, adopting).await?;
    Ok(SurfacePlan {
        rest_api,
        permission,
        api_key,
        usage_plan,
    })
}

impl Plan {
    /// Every change, in the order [`apply`] makes them.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }
}

/// The changes of a plan as `plan` prints them (`up` prints the one it applied).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Changes(pub Vec<Change>);

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return writeln!(f, "No changes: the stack matches the configuration.");
        }
        for c in &self.0 {
            writeln!(f, "{c}")?;
        }
        writeln!(f, "{} change(s).", self.0.len())
    }
}

/// Reads the stack and diffs it with `spec`. Refuses, before anything changes, what the
/// stack cannot use (an index or bucket the spec cannot serve) and the same-named resources
/// it did not create (unless `spec.adopt`, which plans to tag them).
pub async fn plan(ctx: &Ctx, spec: Spec) -> anyhow::Result<Plan> {
    // Bad input (a dimension, metric or key the existing data cannot take) is found first.
    let vectors = vector_store::plan(ctx, spec.index, spec.kms_key.as_deref()).await?;
    let seen = survey(ctx).await?;
    // Same-named search-only resources matter only when the stack wants its own.
    let search_kinds = Surface::Search.kinds();
    let considered: Vec<Seen> = seen
        .iter()
        .filter(|s| spec.search_key || !search_kinds.contains(&s.kind))
        .cloned()
        .collect();
    let decision =
        ownership::decide(&considered, spec.adopt).map_err(|r| ownership::refusal(&r))?;
    for s in &decision.left_alone {
        ctx.printer.warn(&format!(
            "leaving {} alone: it has the stack's name but not its tags",
            s.describe()
        ));
    }
    let adopting: Vec<String> = decision.adopt.iter().filter_map(|s| s.id.clone()).collect();
    let (boundary, log_group, role) = tokio::try_join!(
        role::boundary_missing(ctx),
        log_group::plan(ctx, spec.log_retention_days),
        role::plan(ctx, &spec.embedding_endpoint),
    )?;
    let (function, statements) = tokio::try_join!(
        function::plan(ctx, spec.function(&role.arn), &spec.code),
        permission::statements(ctx),
    )?;
    let plan_search = async {
        if spec.search_key {
            let surface = plan_surface(
                ctx,
                Surface::Search,
                &function.arn,
                spec.limits,
                &adopting,
                &statements,
            );
            return Ok::<_, anyhow::Error>(SearchPlan::On(Box::new(surface.await?)));
        }
        let retire = RESOURCES
            .iter()
            .rev()
            .filter(|r| search_kinds.contains(&r.kind))
            .flat_map(|r| seen.iter().filter(|s| s.owned && s.kind == r.kind).cloned())
            .collect();
        let permission =
            permission::plan(ctx, Surface::Search, &Planned::ToCreate, &[], &statements);
        Ok(SearchPlan::Off { retire, permission })
    };
    let (api, search) = tokio::try_join!(
        plan_surface(
            ctx,
            Surface::Main,
            &function.arn,
            spec.limits,
            &adopting,
            &statements
        ),
        plan_search,
    )?;
    let adopt_changes = decision.adopt.iter().map(|s| {
        Change::new(
            crate::resources::Action::Update,
            s.describe(),
            "tags: adopt into the stack (--adopt)",
        )
    });
    let changes = adopt_changes
        .chain(boundary.then(|| role::boundary_change(ctx)))
        .chain(vector_store::changes(ctx, &vectors))
        .chain(log_group.map(|e| log_group::change(ctx, e)))
        .chain(role::changes(ctx, &role))
        .chain(function::changes(ctx, &function))
        .chain(api.changes(ctx))
        .chain(search.changes(ctx))
        .collect();
    Ok(Plan {
        spec,
        adopt: decision.adopt,
        boundary,
        vectors,
        log_group,
        role,
        function,
        api,
        search,
        changes,
    })
}

/// What `down` would delete: what the stack owns, in deletion order, and the same-named
/// resources it leaves alone.
#[derive(Debug, Clone)]
pub struct Teardown {
    /// What is deleted, in order.
    pub delete: Vec<Seen>,
    /// Same-named resources without the stack's tags.
    pub left_alone: Vec<Seen>,
}

/// Reads what `down` deletes: every resource the stack owns, backwards through [`RESOURCES`]
/// (the data — bucket and index — only with `delete_data`); warns about what it leaves alone.
pub async fn teardown(ctx: &Ctx, delete_data: bool) -> anyhow::Result<Teardown> {
    let seen = survey(ctx).await?;
    let left_alone: Vec<Seen> = seen.iter().filter(|s| !s.owned).cloned().collect();
    for s in &left_alone {
        ctx.printer.warn(&format!(
            "left alone: {} (not created by this stack: no managed-by/stack tags)",
            s.describe()
        ));
    }
    let delete = RESOURCES
        .iter()
        .rev()
        .filter(|r| delete_data || !r.holds_data)
        .flat_map(|r| {
            let kind = r.kind;
            seen.iter()
                .filter(move |s| s.owned && s.kind == kind)
                .cloned()
        })
        .collect();
    Ok(Teardown { delete, left_alone })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Action;

    #[test]
    fn the_table_lists_every_kind_once_in_creation_order() {
        let kinds: Vec<Kind> = RESOURCES.iter().map(|r| r.kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            kinds, sorted,
            "creation order is the kinds' order, each once"
        );
        let data: Vec<Kind> = RESOURCES
            .iter()
            .filter(|r| r.holds_data)
            .map(|r| r.kind)
            .collect();
        assert_eq!(data, [Kind::Bucket, Kind::Index]);
        // The search-only API's resources come last, so `down` removes them first.
        assert_eq!(&kinds[kinds.len() - 3..], Surface::Search.kinds());
    }

    #[test]
    fn a_plan_prints_its_changes_and_their_count() {
        assert_eq!(
            Changes(vec![]).to_string(),
            "No changes: the stack matches the configuration.\n"
        );
        let one = Changes(vec![Change::new(
            Action::Update,
            "log group g",
            "retention: 30 d -> 7 d",
        )]);
        assert_eq!(
            one.to_string(),
            "update  log group g retention: 30 d -> 7 d\n1 change(s).\n"
        );
    }
}
