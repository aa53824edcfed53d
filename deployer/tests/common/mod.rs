//! Test support: a private local AWS per test with IAM enforced, the `deployer` binary run
//! against it as a user holding only `deployer/deployer-policy.json` (the README's
//! least-privileged identity, with the administrator's permissions boundary in place), and
//! administrator SDK clients to check what it did.
#![allow(dead_code)]

use serde_json::Value;
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Command, Output};
use testkit::LocalAws;

pub struct Env {
    pub aws: LocalAws,
    pub dir: PathBuf,
    deployer: RefCell<Option<(String, String)>>,
}

/// `deployer/{name}` with the test account and partition filled in, as README tells users.
pub fn policy_document(name: &str) -> String {
    let path = testkit::repo_root().join("deployer").join(name);
    std::fs::read_to_string(&path)
        .unwrap()
        .replace("PARTITION", "aws")
        .replace("ACCOUNT_ID", "123456789012")
}

/// Knobs that keep real-AWS timings but scaled down 20×.
pub const FAST: &[&str] = &[
    "--clock-scale",
    "0.05",
    "--lambda-pending-secs",
    "2",
    "--iam-propagation-secs",
    "8",
    "--enforce-iam",
];

impl Env {
    pub fn start() -> Self {
        let aws = LocalAws::start(FAST);
        let dir = aws.state_dir.join("work");
        std::fs::create_dir_all(&dir).unwrap();
        let env = Self {
            aws,
            dir,
            deployer: RefCell::new(None),
        };
        env.deployer_creds();
        env
    }

    /// Resets the local AWS (every resource and user is gone) and provisions the deploying
    /// user again.
    pub fn reset(&self) {
        self.aws.control("POST", "reset", Some("{}"));
        self.deployer.replace(None);
        self.deployer_creds();
    }

    /// The keys of the deploying user, made on first use as an administrator would: the
    /// boundary policy, a managed policy from `deployer-policy.json` attached to a user.
    pub fn deployer_creds(&self) -> (String, String) {
        if let Some(keys) = self.deployer.borrow().clone() {
            return keys;
        }
        let sdk = self.sdk();
        let keys = block_on(async {
            let iam = aws_sdk_iam::Client::new(&sdk);
            iam.create_policy()
                .policy_name("alex-ingest-boundary")
                .policy_document(policy_document("boundary-policy.json"))
                .send()
                .await
                .unwrap();
            let policy = iam
                .create_policy()
                .policy_name("alex-deployer")
                .policy_document(policy_document("deployer-policy.json"))
                .send()
                .await
                .unwrap();
            iam.create_user()
                .user_name("deployer")
                .send()
                .await
                .unwrap();
            iam.attach_user_policy()
                .user_name("deployer")
                .policy_arn(policy.policy().unwrap().arn().unwrap())
                .send()
                .await
                .unwrap();
            access_key(&iam, "deployer").await
        });
        self.deployer.replace(Some(keys.clone()));
        keys
    }

    /// Another user of the account, holding only the inline `policy`; its keys.
    pub fn user(&self, name: &str, policy: &Value) -> (String, String) {
        let sdk = self.sdk();
        block_on(async {
            let iam = aws_sdk_iam::Client::new(&sdk);
            iam.create_user().user_name(name).send().await.unwrap();
            iam.put_user_policy()
                .user_name(name)
                .policy_name("inline")
                .policy_document(policy.to_string())
                .send()
                .await
                .unwrap();
            access_key(&iam, name).await
        })
    }

    /// The administrator's keys (recreated by a reset, so read each time).
    fn creds(&self) -> (String, String) {
        let creds: Value =
            serde_json::from_str(&self.aws.control("GET", "credentials", None)).unwrap();
        (
            creds["AccessKeyId"].as_str().unwrap().to_string(),
            creds["SecretAccessKey"].as_str().unwrap().to_string(),
        )
    }

    /// The deployer, run as the least-privileged deploying user.
    pub fn command(&self, args: &[&str]) -> Command {
        let (key, secret) = self.deployer_creds();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deployer"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_ENDPOINT_URL", &self.aws.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        // HOME is isolated (no real ~/.aws is ever read), so name cargo's and rustup's homes
        // explicitly: the release build `up` runs then shares the workspace's registry,
        // toolchain and fingerprints instead of starting over under the temp HOME.
        let real_home = std::env::var("HOME").unwrap_or_default();
        for (var, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
            let value = std::env::var(var).unwrap_or_else(|_| format!("{real_home}/{default}"));
            cmd.env(var, value);
        }
        for var in ["CARGO", "CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN"] {
            if let Ok(value) = std::env::var(var) {
                cmd.env(var, value);
            }
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run the deployer")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "deployer {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn requests(&self) -> Value {
        serde_json::from_str(&self.aws.requests_json()).unwrap()
    }

    pub fn clear_requests(&self) {
        self.aws.control("DELETE", "requests", None);
    }

    pub fn sdk(&self) -> aws_config::SdkConfig {
        let (key, secret) = self.creds();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(aws_smithy_http_client::Builder::new().build_http())
                .endpoint_url(&self.aws.url)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_iam::config::Credentials::new(
                    key, secret, None, None, "test",
                ))
                .load(),
        )
    }

    /// POSTs through the local API Gateway.
    pub fn post(&self, url: &str, key: Option<&str>, body: &str) -> (u16, Value) {
        let path = url.strip_prefix(&self.aws.url).expect("a local invoke URL");
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(k) = key {
            headers.push(("x-api-key", k));
        }
        let (status, text) = testkit::http(self.aws.port, "POST", path, &headers, body).unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A new access key of `user`: (id, secret).
async fn access_key(iam: &aws_sdk_iam::Client, user: &str) -> (String, String) {
    let key = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

/// Counts of each resource kind the stack owns, read through the SDK.
#[derive(Debug, PartialEq, Eq)]
pub struct Inventory {
    pub rest_apis: usize,
    pub api_keys: usize,
    pub usage_plans: usize,
    pub functions: usize,
    pub roles: usize,
    pub log_groups: usize,
    pub buckets: usize,
    pub indexes: usize,
}

pub async fn inventory(sdk: &aws_config::SdkConfig) -> Inventory {
    let apigw = aws_sdk_apigateway::Client::new(sdk);
    let rest_apis = apigw
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|a| a.name() == Some("alex-api"))
        .count();
    let api_keys = apigw
        .get_api_keys()
        .limit(500)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|a| a.name() == Some("alex-api-key"))
        .count();
    let usage_plans = apigw
        .get_usage_plans()
        .limit(500)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|a| a.name() == Some("alex-usage-plan"))
        .count();
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let functions = lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .filter(|f| f.function_name() == Some("alex-ingest"))
        .count();
    let iam = aws_sdk_iam::Client::new(sdk);
    let roles = iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .filter(|r| r.role_name() == "alex-ingest-lambda-role")
        .count();
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let log_groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/alex-ingest")
        .send()
        .await
        .unwrap()
        .log_groups()
        .len();
    let s3v = aws_sdk_s3vectors::Client::new(sdk);
    let buckets = s3v
        .list_vector_buckets()
        .send()
        .await
        .unwrap()
        .vector_buckets()
        .len();
    let indexes = if buckets > 0 {
        s3v.list_indexes()
            .vector_bucket_name("alex-vectors-123456789012")
            .send()
            .await
            .map(|o| o.indexes().len())
            .unwrap_or(0)
    } else {
        0
    };
    Inventory {
        rest_apis,
        api_keys,
        usage_plans,
        functions,
        roles,
        log_groups,
        buckets,
        indexes,
    }
}

pub const ONE_OF_EACH: Inventory = Inventory {
    rest_apis: 1,
    api_keys: 1,
    usage_plans: 1,
    functions: 1,
    roles: 1,
    log_groups: 1,
    buckets: 1,
    indexes: 1,
};

pub const EMPTY: Inventory = Inventory {
    rest_apis: 0,
    api_keys: 0,
    usage_plans: 0,
    functions: 0,
    roles: 0,
    log_groups: 0,
    buckets: 0,
    indexes: 0,
};

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Reads the `.env` the deployer wrote.
pub fn dotenv(env: &Env) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(env.dir.join(".env"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Makes index `name` in the stack's bucket as the administrator (as the console or another
/// tool would: untagged, every metadata key filterable).
pub fn create_foreign_index(env: &Env, name: &str) {
    let sdk = env.sdk();
    block_on(async {
        aws_sdk_s3vectors::Client::new(&sdk)
            .create_index()
            .vector_bucket_name("alex-vectors-123456789012")
            .index_name(name)
            .data_type(aws_sdk_s3vectors::types::DataType::Float32)
            .dimension(384)
            .distance_metric(aws_sdk_s3vectors::types::DistanceMetric::Cosine)
            .send()
            .await
            .unwrap();
    });
}
