//! Default resource names. They match the original Terraform setup so its users can switch.

/// Default stack prefix (`--name`).
pub const DEFAULT_STACK: &str = "alex";
/// Default vector index name.
pub const DEFAULT_INDEX: &str = "financial-research";
/// Default SageMaker embedding endpoint name.
pub const DEFAULT_EMBEDDING_ENDPOINT: &str = "alex-embedding-endpoint";
/// Default API Gateway stage.
pub const DEFAULT_STAGE: &str = "prod";
/// Embedding dimension of all-MiniLM-L6-v2.
pub const DEFAULT_DIMENSION: u32 = 384;

/// Every resource name of one stack, derived from its prefix and the account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNames {
    /// The stack prefix (`alex`).
    pub stack: String,
    /// Vector bucket: `{stack}-vectors-{account}`.
    pub bucket: String,
    /// Vector index.
    pub index: String,
    /// Lambda function: `{stack}-ingest`.
    pub function: String,
    /// IAM role of the function: `{stack}-ingest-lambda-role`.
    pub role: String,
    /// Inline policy on the role.
    pub policy: String,
    /// Managed policy set as the role's permissions boundary: `{stack}-ingest-boundary`
    /// (created once by an administrator; the deploying identity may create roles only with it).
    pub boundary: String,
    /// CloudWatch log group of the function.
    pub log_group: String,
    /// REST API: `{stack}-api`.
    pub api: String,
    /// Stage.
    pub stage: String,
    /// API key: `{stack}-api-key`.
    pub api_key: String,
    /// Usage plan: `{stack}-usage-plan`.
    pub usage_plan: String,
    /// The search-only REST API (`up --search-key`): `{stack}-search-api`.
    pub search_api: String,
    /// Its key: `{stack}-search-key`.
    pub search_api_key: String,
    /// Its usage plan: `{stack}-search-usage-plan`.
    pub search_usage_plan: String,
}

impl StackNames {
    /// Names for stack `stack` in account `account`, with index `index`.
    pub fn new(stack: &str, account: &str, index: &str) -> Self {
        let function = format!("{stack}-ingest");
        Self {
            stack: stack.to_string(),
            bucket: format!("{stack}-vectors-{account}"),
            index: index.to_string(),
            role: format!("{function}-lambda-role"),
            policy: format!("{function}-policy"),
            boundary: format!("{function}-boundary"),
            log_group: format!("/aws/lambda/{function}"),
            function,
            api: format!("{stack}-api"),
            stage: DEFAULT_STAGE.to_string(),
            api_key: format!("{stack}-api-key"),
            usage_plan: format!("{stack}-usage-plan"),
            search_api: format!("{stack}-search-api"),
            search_api_key: format!("{stack}-search-key"),
            search_usage_plan: format!("{stack}-search-usage-plan"),
        }
    }
}

/// The longest stack name: the vector bucket `{stack}-vectors-{12-digit account}` has at most
/// 63 characters.
pub const MAX_STACK_LEN: usize = 63 - "-vectors-".len() - 12;

/// Why `name` cannot be a stack name (`--name`), or `None`. Every resource name is derived from
/// it, and the strictest rule is the vector bucket's: lowercase letters, digits and hyphens,
/// beginning with a letter or digit, and short enough for the bucket name.
pub fn stack_name_problem(name: &str) -> Option<String> {
    let rule = format!(
        "a stack name is 1-{MAX_STACK_LEN} lowercase letters, digits and hyphens, beginning and ending with a letter or digit (it names the vector bucket `{{name}}-vectors-{{account}}`)"
    );
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (name.is_empty() || name.len() > MAX_STACK_LEN || !chars_ok || !ends_ok).then_some(rule)
}

/// Why `name` cannot be a vector index name, or `None`: 3-63 lowercase letters, digits,
/// hyphens and dots, beginning and ending with a letter or digit (S3 Vectors' rule).
pub fn index_name_problem(name: &str) -> Option<String> {
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!(3..=63).contains(&name.len()) || !chars_ok || !ends_ok).then(|| {
        "an index name is 3-63 lowercase letters, digits, hyphens and dots, beginning and ending with a letter or digit".to_string()
    })
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_follow_the_bucket_rule() {
        for ok in ["alex", "a", "my-stack-2", &"a".repeat(MAX_STACK_LEN)] {
            assert_eq!(stack_name_problem(ok), None, "{ok}");
            let n = StackNames::new(ok, "123456789012", DEFAULT_INDEX);
            assert!(n.bucket.len() <= 63 && n.role.len() <= 64 && n.function.len() <= 64);
        }
        for bad in [
            "",
            "my_stack",
            "MyStack",
            "-alex",
            "alex-",
            "al ex",
            "é",
            &"a".repeat(MAX_STACK_LEN + 1),
        ] {
            assert!(stack_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn index_names_follow_s3_vectors_rule() {
        for ok in ["financial-research", "abc", "v2.index", &"a".repeat(63)] {
            assert_eq!(index_name_problem(ok), None, "{ok}");
        }
        for bad in ["ab", "Index", "a_b", ".abc", "abc-", &"a".repeat(64)] {
            assert!(index_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn defaults_match_the_original_setup() {
        let n = StackNames::new(DEFAULT_STACK, "123456789012", DEFAULT_INDEX);
        assert_eq!(n.bucket, "alex-vectors-123456789012");
        assert_eq!(n.index, "financial-research");
        assert_eq!(n.function, "alex-ingest");
        assert_eq!(n.role, "alex-ingest-lambda-role");
        assert_eq!(n.boundary, "alex-ingest-boundary");
        assert_eq!(n.log_group, "/aws/lambda/alex-ingest");
        assert_eq!(n.api, "alex-api");
        assert_eq!(n.stage, "prod");
        assert_eq!(n.api_key, "alex-api-key");
        assert_eq!(n.usage_plan, "alex-usage-plan");
    }
}
