//! The role's documents: the Lambda trust policy and the function's least-privilege inline
//! policy (exact ARNs only), and decoding what IAM returns (URL-encoded JSON).

use crate::context::Ctx;
use serde_json::{Value, json};

/// The trust policy.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The inline policy for the function's work.
pub fn function_policy(ctx: &Ctx, endpoint: &str) -> Value {
    let log_group = ctx.log_group_arn();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [format!("{log_group}:*")]
            },
            {
                "Sid": "Vectors",
                "Effect": "Allow",
                "Action": [
                    "s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:QueryVectors",
                    "s3vectors:DeleteVectors", "s3vectors:ListVectors", "s3vectors:GetIndex"
                ],
                "Resource": ctx.index_arns()
            },
            {
                "Sid": "Embeddings",
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint"],
                "Resource": ctx.endpoint_arns(endpoint)
            }
        ]
    })
}

/// IAM returns policy documents URL-encoded.
pub fn decode_policy(doc: &str) -> Option<Value> {
    let bytes = doc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = doc.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    serde_json::from_slice(&out)
        .ok()
        .or_else(|| serde_json::from_str(doc).ok())
}
