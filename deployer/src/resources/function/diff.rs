//! The function's pure diff: its configuration as read, compared field by field with the
//! desired one. No AWS here; unit-tested.

use super::FunctionSpec;
use std::collections::BTreeMap;

/// The runtime and handler every version of the function uses.
pub const RUNTIME: &str = "provided.al2023";
/// The handler of a custom-runtime function (the binary is `bootstrap`).
pub const HANDLER: &str = "bootstrap";

/// The parts of the function's configuration the stack sets, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    /// Runtime name.
    pub runtime: Option<String>,
    /// Handler.
    pub handler: Option<String>,
    /// Execution role ARN.
    pub role: Option<String>,
    /// MB.
    pub memory: Option<i32>,
    /// Seconds.
    pub timeout: Option<i32>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Architecture (`x86_64`, `arm64`).
    pub arch: Option<String>,
    /// CodeSha256 of the deployed code.
    pub code_sha256: Option<String>,
}

/// A configuration field that differs (UpdateFunctionConfiguration repairs them all at once).
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// The runtime is not `provided.al2023`.
    Runtime(Option<String>),
    /// The handler is not `bootstrap`.
    Handler,
    /// Another execution role.
    Role(Option<String>, String),
    /// Another memory size, MB.
    Memory(Option<i32>, i32),
    /// Another timeout, seconds.
    Timeout(Option<i32>, i32),
    /// These environment variables differ (names only: values may be secrets).
    Environment(Vec<String>),
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or = |v: &Option<i32>| v.map_or("none".to_string(), |v| v.to_string());
        match self {
            Field::Runtime(from) => write!(
                f,
                "runtime: {} -> {RUNTIME}",
                from.as_deref().unwrap_or("none")
            ),
            Field::Handler => write!(f, "handler -> {HANDLER}"),
            Field::Role(from, to) => {
                write!(f, "role: {} -> {to}", from.as_deref().unwrap_or("none"))
            }
            Field::Memory(from, to) => write!(f, "memory: {} -> {to} MB", or(from)),
            Field::Timeout(from, to) => write!(f, "timeout: {} -> {to} s", or(from)),
            Field::Environment(keys) => write!(f, "environment: {}", keys.join(", ")),
        }
    }
}

/// What `up` changes on an existing function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Configuration fields to repair.
    pub configuration: Vec<Field>,
    /// The code to upload: `(deployed sha256, new sha256)`; also when only the architecture
    /// differs (it is set with the code).
    pub code: Option<(Option<String>, String)>,
}

/// Compares the function as read with the spec and the artifact's sha256.
pub fn diff(current: &Current, spec: &FunctionSpec, code_sha256: &str) -> Diff {
    let mut fields = Vec::new();
    if current.runtime.as_deref() != Some(RUNTIME) {
        fields.push(Field::Runtime(current.runtime.clone()));
    }
    if current.handler.as_deref() != Some(HANDLER) {
        fields.push(Field::Handler);
    }
    if current.role.as_deref() != Some(spec.role_arn.as_str()) {
        fields.push(Field::Role(current.role.clone(), spec.role_arn.clone()));
    }
    if current.memory != Some(spec.memory) {
        fields.push(Field::Memory(current.memory, spec.memory));
    }
    if current.timeout != Some(spec.timeout) {
        fields.push(Field::Timeout(current.timeout, spec.timeout));
    }
    let mut keys: Vec<String> = spec
        .env
        .keys()
        .chain(current.env.keys())
        .filter(|k| spec.env.get(*k) != current.env.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    if !keys.is_empty() {
        fields.push(Field::Environment(keys));
    }
    let code_differs = current.code_sha256.as_deref() != Some(code_sha256)
        || current.arch.as_deref() != Some(spec.arch.as_str());
    Diff {
        configuration: fields,
        code: code_differs.then(|| (current.code_sha256.clone(), code_sha256.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    fn spec() -> FunctionSpec {
        FunctionSpec {
            role_arn: "arn:aws:iam::1:role/r".into(),
            memory: 512,
            timeout: 30,
            arch: Arch::X86_64,
            env: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "2".into())]),
        }
    }

    fn matching() -> Current {
        Current {
            runtime: Some(RUNTIME.into()),
            handler: Some(HANDLER.into()),
            role: Some("arn:aws:iam::1:role/r".into()),
            memory: Some(512),
            timeout: Some(30),
            env: spec().env,
            arch: Some("x86_64".into()),
            code_sha256: Some("abc".into()),
        }
    }

    #[test]
    fn a_matching_function_has_no_diff() {
        assert_eq!(diff(&matching(), &spec(), "abc"), Diff::default());
    }

    #[test]
    fn every_drifted_field_is_named_and_env_values_are_not_shown() {
        let mut drifted = matching();
        drifted.runtime = Some("python3.12".into());
        drifted.handler = Some("main.handler".into());
        drifted.memory = Some(128);
        drifted.timeout = None;
        drifted.env.insert("B".into(), "secret".into());
        drifted.env.insert("C".into(), "3".into());
        let d = diff(&drifted, &spec(), "abc");
        let shown: Vec<String> = d.configuration.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "runtime: python3.12 -> provided.al2023",
                "handler -> bootstrap",
                "memory: 128 -> 512 MB",
                "timeout: none -> 30 s",
                "environment: B, C",
            ]
        );
        assert!(!shown.concat().contains("secret"));
        assert_eq!(d.code, None);
    }

    #[test]
    fn new_code_or_another_architecture_uploads_the_code() {
        let d = diff(&matching(), &spec(), "def");
        assert_eq!(d.code, Some((Some("abc".into()), "def".into())));
        assert!(d.configuration.is_empty());
        let mut arm = matching();
        arm.arch = Some("arm64".into());
        assert!(diff(&arm, &spec(), "abc").code.is_some());
    }
}
