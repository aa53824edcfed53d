//! The role's pure diff: boundary, trust and inline policy as read against the desired ones.

use super::policy::trust_policy;
use crate::resources::Action;
use serde_json::Value;

/// The role as read: trust policy, boundary and inline policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    /// The trust policy.
    pub trust: Option<Value>,
    /// The permissions boundary's ARN.
    pub boundary: Option<String>,
    /// The inline policy `{stack}-policy`.
    pub policy: Option<Value>,
}

/// One change to an existing role.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set the stack's boundary (`from` another or none).
    Boundary(Option<String>),
    /// The trust policy is not lambda.amazonaws.com's.
    Trust,
    /// Put the inline policy (create or update).
    Policy(Action),
}

/// What makes `current` the role the stack wants: `boundary`, the Lambda trust, `policy`.
pub fn diff(current: &Current, boundary: &str, policy: &Value) -> Vec<Edit> {
    let mut edits = Vec::new();
    if current.boundary.as_deref() != Some(boundary) {
        edits.push(Edit::Boundary(current.boundary.clone()));
    }
    if current.trust.as_ref() != Some(&trust_policy()) {
        edits.push(Edit::Trust);
    }
    match &current.policy {
        None => edits.push(Edit::Policy(Action::Create)),
        Some(p) if p != policy => edits.push(Edit::Policy(Action::Update)),
        Some(_) => {}
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOUNDARY: &str = "arn:aws:iam::1:policy/alex-ingest-boundary";

    #[test]
    fn a_matching_role_has_no_edits_and_drift_is_named() {
        let policy = json!({"Version": "2012-10-17", "Statement": []});
        let good = Current {
            trust: Some(trust_policy()),
            boundary: Some(BOUNDARY.into()),
            policy: Some(policy.clone()),
        };
        assert_eq!(diff(&good, BOUNDARY, &policy), []);
        let adopted = Current {
            trust: Some(json!({})),
            boundary: None,
            policy: None,
        };
        assert_eq!(
            diff(&adopted, BOUNDARY, &policy),
            [
                Edit::Boundary(None),
                Edit::Trust,
                Edit::Policy(Action::Create)
            ]
        );
        let widened = Current {
            policy: Some(json!({"Statement": [{"Action": "*"}]})),
            ..good
        };
        assert_eq!(
            diff(&widened, BOUNDARY, &policy),
            [Edit::Policy(Action::Update)]
        );
    }
}
