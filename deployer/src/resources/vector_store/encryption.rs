//! The bucket's encryption: SSE-S3, or SSE-KMS with `--kms-key`; fixed at creation.

use aws_sdk_s3vectors::types::{EncryptionConfiguration, SseType};

/// The encryption a bucket should have: SSE-KMS with `kms_key`, else SSE-S3.
pub fn encryption(kms_key: Option<&str>) -> EncryptionConfiguration {
    match kms_key {
        Some(key) => EncryptionConfiguration::builder()
            .sse_type(SseType::AwsKms)
            .kms_key_arn(key)
            .build(),
        None => EncryptionConfiguration::builder()
            .sse_type(SseType::Aes256)
            .build(),
    }
}

/// Why an existing bucket cannot serve a stack that asks for `kms_key` (its encryption is
/// fixed at creation); `None` when it can. Without `--kms-key` any encryption is accepted.
pub fn encryption_conflict(
    current: Option<&EncryptionConfiguration>,
    kms_key: Option<&str>,
) -> Option<String> {
    let want = kms_key?;
    let have = current.and_then(|c| c.kms_key_arn());
    (have != Some(want)).then(|| {
        format!(
            "is encrypted with {}, not the KMS key {want}; a bucket's encryption cannot be changed\nhint: drop `--kms-key` to keep it, or use another stack name for a new bucket",
            have.unwrap_or("SSE-S3")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_encryption_is_checked_only_when_a_key_is_asked_for() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/k";
        let sse_s3 = encryption(None);
        let kms = encryption(Some(key));
        assert_eq!(encryption_conflict(Some(&sse_s3), None), None);
        assert_eq!(encryption_conflict(Some(&kms), Some(key)), None);
        let why = encryption_conflict(Some(&sse_s3), Some(key)).unwrap();
        assert!(
            why.contains("SSE-S3") && why.contains("cannot be changed"),
            "{why}"
        );
        assert!(encryption_conflict(None, Some(key)).is_some());
    }
}
