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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
