//! Whether identities may do what the stack needs, asked of IAM (SimulatePrincipalPolicy): the
//! deploying identity against `deployer/deployer-policy.json`, and the function's role
//! (boundary included) against the function's own policy. Statements with conditions (tag
//! checks) are not simulated: their answer depends on the resource.

use crate::aws_error::{describe, is};
use crate::context::Ctx;
use serde_json::Value;

/// The IAM principal a caller ARN stands for (an assumed-role session → its role).
pub fn principal_arn(caller: &str) -> Option<String> {
    let (head, resource) = caller.split_once(":assumed-role/").map_or_else(
        || (caller, None),
        |(head, rest)| (head, rest.split('/').next()),
    );
    match resource {
        Some(role) => {
            let head = head.replacen(":sts:", ":iam:", 1);
            Some(format!("{head}:role/{role}"))
        }
        None if caller.contains(":user/") || caller.contains(":role/") => Some(caller.to_string()),
        None => None,
    }
}

/// `(actions, resources)` of each unconditional Allow statement of a policy document.
pub fn statements(policy: &Value) -> Vec<(Vec<String>, Vec<String>)> {
    let list = |v: &Value| match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let stmts = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => Vec::new(),
    };
    stmts
        .iter()
        .filter(|s| s["Effect"] == "Allow" && s.get("Condition").is_none())
        .map(|s| (list(&s["Action"]), list(&s["Resource"])))
        .filter(|(a, r)| !a.is_empty() && !r.is_empty())
        .collect()
}

/// What the simulation found: the denied `action on resource` pairs, or why it could not run.
pub async fn denied(ctx: &Ctx, principal: &str, policy: &Value) -> Result<Vec<String>, String> {
    let mut denied = Vec::new();
    for (actions, resources) in statements(policy) {
        for resource in resources {
            let resource = resource.replace(":*:", &format!(":{}:", ctx.region));
            let out = ctx
                .iam
                .simulate_principal_policy()
                .policy_source_arn(principal)
                .set_action_names(Some(actions.clone()))
                .resource_arns(&resource)
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) if is(&e, &["AccessDenied", "AccessDeniedException"]) => {
                    return Err("this identity may not iam:SimulatePrincipalPolicy".into());
                }
                Err(e) => return Err(describe(&e)),
            };
            for result in out.evaluation_results() {
                if result.eval_decision().as_str() != "allowed" {
                    denied.push(format!("{} on {resource}", result.eval_action_name()));
                }
            }
        }
    }
    Ok(denied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sessions_stand_for_their_role() {
        assert_eq!(
            principal_arn("arn:aws:sts::123456789012:assumed-role/Deploy/alice").as_deref(),
            Some("arn:aws:iam::123456789012:role/Deploy")
        );
        assert_eq!(
            principal_arn("arn:aws:iam::123456789012:user/deployer").as_deref(),
            Some("arn:aws:iam::123456789012:user/deployer")
        );
        assert_eq!(principal_arn("arn:aws:iam::123456789012:root"), None);
    }

    #[test]
    fn only_unconditional_allows_are_simulated() {
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Action": "s3vectors:GetIndex", "Resource": ["arn:x"]},
            {"Effect": "Allow", "Action": ["apigateway:PUT"], "Resource": "arn:y",
             "Condition": {"StringEquals": {"aws:ResourceTag/stack": "alex"}}},
            {"Effect": "Deny", "Action": "*", "Resource": "*"}
        ]});
        assert_eq!(
            statements(&policy),
            vec![(
                vec!["s3vectors:GetIndex".to_string()],
                vec!["arn:x".to_string()]
            )]
        );
    }
}
