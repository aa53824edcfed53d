//! The usage plan's pure diff: its settings as read against the desired stage and limits,
//! as typed [`Edit`]s that know their patch operations. No AWS here; unit-tested.

use aws_sdk_apigateway::types::{Op, PatchOperation};

/// The desired limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests per month.
    pub quota: i32,
    /// Steady rate per second.
    pub rate: f64,
    /// Burst.
    pub burst: i32,
}

/// A plan's settings as read: its stages (`apiId:stage`) and limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    /// `apiId:stage` of each API stage.
    pub stages: Vec<String>,
    /// Throttle rate.
    pub rate: Option<f64>,
    /// Throttle burst.
    pub burst: Option<i32>,
    /// Quota limit.
    pub quota: Option<i32>,
    /// Whether the quota period is a month.
    pub monthly: bool,
}

/// One difference between a plan and the desired one.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A stage the stack does not serve.
    RemoveStage(String),
    /// The stack's stage is missing.
    AddStage(String),
    /// Another rate.
    Rate(Option<f64>, f64),
    /// Another burst.
    Burst(Option<i32>, i32),
    /// Another quota (or period).
    Quota(Option<i32>, i32),
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edit::RemoveStage(s) => write!(f, "remove stage {s}"),
            Edit::AddStage(s) => write!(f, "add stage {s}"),
            Edit::Rate(from, to) => write!(f, "rate: {from:?} -> {to}"),
            Edit::Burst(from, to) => write!(f, "burst: {from:?} -> {to}"),
            Edit::Quota(from, to) => write!(f, "quota: {from:?} -> {to}/MONTH"),
        }
    }
}

fn patch(op: Op, path: &str, value: String) -> PatchOperation {
    PatchOperation::builder()
        .op(op)
        .path(path)
        .value(value)
        .build()
}

impl Edit {
    /// The UpdateUsagePlan patch operations that make it.
    pub fn patches(&self) -> Vec<PatchOperation> {
        match self {
            Edit::RemoveStage(s) => vec![patch(Op::Remove, "/apiStages", s.clone())],
            Edit::AddStage(s) => vec![patch(Op::Add, "/apiStages", s.clone())],
            Edit::Rate(_, to) => vec![patch(Op::Replace, "/throttle/rateLimit", to.to_string())],
            Edit::Burst(_, to) => vec![patch(Op::Replace, "/throttle/burstLimit", to.to_string())],
            Edit::Quota(_, to) => vec![
                patch(Op::Replace, "/quota/limit", to.to_string()),
                patch(Op::Replace, "/quota/period", "MONTH".to_string()),
            ],
        }
    }
}

/// What makes `current` the desired plan: serving `stage` only (`None`: the API does not
/// exist yet, nothing to add) with `limits`.
pub fn diff(current: &Current, stage: Option<&str>, limits: Limits) -> Vec<Edit> {
    let mut edits: Vec<Edit> = current
        .stages
        .iter()
        .filter(|s| Some(s.as_str()) != stage)
        .map(|s| Edit::RemoveStage(s.clone()))
        .collect();
    if let Some(stage) = stage.filter(|s| !current.stages.iter().any(|x| x == s)) {
        edits.push(Edit::AddStage(stage.to_string()));
    }
    if current.rate != Some(limits.rate) {
        edits.push(Edit::Rate(current.rate, limits.rate));
    }
    if current.burst != Some(limits.burst) {
        edits.push(Edit::Burst(current.burst, limits.burst));
    }
    if current.quota != Some(limits.quota) || !current.monthly {
        edits.push(Edit::Quota(current.quota, limits.quota));
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::joined;

    const LIMITS: Limits = Limits {
        quota: 10_000,
        rate: 100.0,
        burst: 200,
    };

    fn matching() -> Current {
        Current {
            stages: vec!["api1:prod".into()],
            rate: Some(100.0),
            burst: Some(200),
            quota: Some(10_000),
            monthly: true,
        }
    }

    #[test]
    fn a_matching_plan_has_no_edits() {
        assert_eq!(diff(&matching(), Some("api1:prod"), LIMITS), vec![]);
    }

    #[test]
    fn foreign_stages_go_the_stack_stage_comes_and_limits_are_replaced() {
        let mut plan = matching();
        plan.stages = vec!["other:prod".into()];
        plan.burst = None;
        plan.monthly = false;
        let edits = diff(&plan, Some("api1:prod"), LIMITS);
        assert_eq!(
            edits,
            vec![
                Edit::RemoveStage("other:prod".into()),
                Edit::AddStage("api1:prod".into()),
                Edit::Burst(None, 200),
                Edit::Quota(Some(10_000), 10_000),
            ]
        );
        assert_eq!(
            joined(&edits),
            "remove stage other:prod; add stage api1:prod; burst: None -> 200; quota: Some(10000) -> 10000/MONTH"
        );
        let paths: Vec<String> = edits
            .iter()
            .flat_map(Edit::patches)
            .filter_map(|p| p.path().map(str::to_string))
            .collect();
        assert_eq!(
            paths,
            [
                "/apiStages",
                "/apiStages",
                "/throttle/burstLimit",
                "/quota/limit",
                "/quota/period"
            ]
        );
    }

    #[test]
    fn an_api_still_to_create_adds_no_stage() {
        let mut plan = matching();
        plan.stages.clear();
        assert_eq!(diff(&plan, None, LIMITS), vec![]);
    }
}
