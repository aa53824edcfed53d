//! `output`: the endpoints, the API key (id and value) and the resource names of the deployed
//! stack, as text, JSON, `.env` lines, or upserted into a `.env` file.

use crate::cli::OutputArgs;
use crate::context::Ctx;
use crate::resources::apigw::Surface;
use crate::resources::{api_key, function, rest_api, role};
use serde::Serialize;
use shared::routes::Operation;

/// The stack's outputs.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    /// The stack.
    pub stack: String,
    /// `…/prod/ingest`.
    pub api_endpoint: String,
    /// `…/prod/search`.
    pub search_endpoint: String,
    /// REST API id.
    pub rest_api_id: String,
    /// API key id.
    pub api_key_id: String,
    /// API key value (a secret: printed here only).
    pub api_key: String,
    /// Vector bucket.
    pub vector_bucket: String,
    /// Vector index.
    pub index: String,
    /// Function ARN.
    pub function_arn: Option<String>,
    /// Role ARN.
    pub role_arn: Option<String>,
    /// The search-only API's search endpoint (`up --search-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_only_endpoint: Option<String>,
    /// The search-only key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_only_key_id: Option<String>,
    /// The search-only key's value (a secret: printed here only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_only_key: Option<String>,
    /// The execute-api ARNs of the routes that take the operator's AWS identity: what an
    /// operator's `execute-api:Invoke` permission names.
    pub operator_arns: Vec<String>,
    /// Region.
    pub region: String,
}

impl Outputs {
    /// The `.env` lines: the original three, and `ALEX_STACK` when the stack is not the
    /// default one or `with_stack` (a `.env` names the stack its endpoint and key belong to;
    /// one without `ALEX_STACK` is the default stack's).
    pub fn env_lines(&self, with_stack: bool) -> Vec<(&'static str, String)> {
        let stack = (with_stack || self.stack != shared::names::DEFAULT_STACK)
            .then(|| ("ALEX_STACK", self.stack.clone()));
        stack
            .into_iter()
            .chain([
                ("VECTOR_BUCKET", self.vector_bucket.clone()),
                ("ALEX_API_ENDPOINT", self.api_endpoint.clone()),
                ("ALEX_API_KEY", self.api_key.clone()),
            ])
            .collect()
    }
}

/// The key as the text output shows it unless `--show-key`: its first 4 characters.
pub fn masked(key: &str) -> String {
    let shown: String = key.chars().take(4).collect();
    format!("{shown}… (hidden; --show-key, --json or --env print it)")
}

impl Outputs {
    /// The text output; the key's value only with `show_key`.
    pub fn render(&self, show_key: bool) -> String {
        let shown = |key: &str| {
            if show_key {
                key.to_string()
            } else {
                masked(key)
            }
        };
        let key = shown(&self.api_key);
        let search_only_key = self.search_only_key.as_deref().map(shown);
        let search_only = [
            ("search_only_endpoint", self.search_only_endpoint.as_deref()),
            ("search_only_key_id", self.search_only_key_id.as_deref()),
            ("search_only_key", search_only_key.as_deref()),
        ];
        let rows = [
            ("api_endpoint", self.api_endpoint.as_str()),
            ("search_endpoint", &self.search_endpoint),
            ("api_key_id", &self.api_key_id),
            ("api_key", &key),
            ("vector_bucket", &self.vector_bucket),
            ("index", &self.index),
            (
                "function_arn",
                self.function_arn.as_deref().unwrap_or("(missing)"),
            ),
            ("role_arn", self.role_arn.as_deref().unwrap_or("(missing)")),
        ];
        let operator_arns = self.operator_arns.join(" ");
        let tail = [
            ("operator_arns", operator_arns.as_str()),
            ("region", &self.region),
        ];
        rows.into_iter()
            .chain(search_only.into_iter().filter_map(|(k, v)| Some((k, v?))))
            .chain(tail)
            .map(|(k, v)| format!("{k:<20} {v}\n"))
            .collect()
    }
}

/// The stack has no REST API or no API key of its own in this account and region.
#[derive(Debug, thiserror::Error)]
#[error("stack `{stack}` is not deployed in {region} ({what})\nhint: run `deployer up` first")]
pub struct NotDeployed {
    /// The stack.
    pub stack: String,
    /// The region.
    pub region: String,
    /// What is missing.
    pub what: String,
}

/// Reads the outputs; [`NotDeployed`] when the stack is not deployed.
pub async fn read(ctx: &Ctx) -> anyhow::Result<Outputs> {
    let not_deployed = |what: &str| NotDeployed {
        stack: ctx.names.stack.clone(),
        region: ctx.region.clone(),
        what: what.to_string(),
    };
    let Some((api, key)) = surface(ctx, Surface::Main).await? else {
        return Err(not_deployed(&format!(
            "no REST API `{}` with an API key `{}`",
            ctx.names.api, ctx.names.api_key
        ))
        .into());
    };
    let (function_arn, role_arn, value, search_only) = tokio::try_join!(
        function::arn(ctx),
        role::arn(ctx),
        api_key::value(ctx, &key),
        async {
            let Some((api, key)) = surface(ctx, Surface::Search).await? else {
                return Ok(None);
            };
            let value = api_key::value(ctx, &key).await?;
            Ok::<_, anyhow::Error>(Some((api, key, value)))
        },
    )?;
    let (search_only_endpoint, search_only_key_id, search_only_key) = match search_only {
        Some((api, key, value)) => (
            Some(ctx.invoke_url(&api, &Operation::Search.path(None))),
            Some(key),
            Some(value),
        ),
        None => (None, None, None),
    };
    Ok(Outputs {
        stack: ctx.names.stack.clone(),
        api_endpoint: ctx.invoke_url(&api, &Operation::Ingest.path(None)),
        search_endpoint: ctx.invoke_url(&api, &Operation::Search.path(None)),
        rest_api_id: api.clone(),
        api_key_id: key,
        api_key: value,
        search_only_endpoint,
        search_only_key_id,
        search_only_key,
        vector_bucket: ctx.names.bucket.clone(),
        index: ctx.names.index.clone(),
        function_arn,
        role_arn,
        operator_arns: operator_arns(ctx, &api),
        region: ctx.region.clone(),
    })
}

/// The ids of `surface`'s API and key, when the stack has both.
async fn surface(ctx: &Ctx, surface: Surface) -> anyhow::Result<Option<(String, String)>> {
    let (apis, keys) = tokio::try_join!(rest_api::find(ctx, surface), api_key::find(ctx, surface))?;
    let api = apis.into_iter().find(|a| a.managed);
    let key = keys.into_iter().find(|k| k.managed);
    Ok(api.zip(key).map(|(a, k)| (a.id, k.id)))
}

/// `arn:…:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}` of every operator
/// route (`*` for the document id).
pub fn operator_arns(ctx: &Ctx, api_id: &str) -> Vec<String> {
    shared::routes::ROUTES
        .iter()
        .filter(|r| r.access == shared::routes::Access::Operator)
        .map(|r| {
            let resource = format!("{api_id}/{}/{}/{}", ctx.names.stage, r.method, r.arn_path());
            ctx.arn("execute-api", &ctx.region, &ctx.account, &resource)
        })
        .collect()
}

/// What `output` prints.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OutputReport {
    /// Every output (the key masked in text unless `show_key`).
    Outputs {
        /// The outputs.
        #[serde(flatten)]
        outputs: Box<Outputs>,
        /// Whether the text shows the key.
        #[serde(skip)]
        show_key: bool,
    },
    /// `--env`: the `.env` lines (a JSON object with `--json`).
    Env(EnvLines),
    /// `--write-env`: the file written (nothing on stdout).
    Written {
        /// The `.env` file.
        written: String,
        /// The keys written.
        keys: Vec<&'static str>,
    },
}

/// `.env` lines in their order; serialized as a JSON object.
#[derive(Debug)]
pub struct EnvLines(pub Vec<(&'static str, String)>);

impl Serialize for EnvLines {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl std::fmt::Display for OutputReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputReport::Outputs { outputs, show_key } => f.write_str(&outputs.render(*show_key)),
            OutputReport::Env(lines) => {
                lines.0.iter().try_for_each(|(k, v)| writeln!(f, "{k}={v}"))
            }
            OutputReport::Written { .. } => Ok(()),
        }
    }
}

impl crate::report::Report for OutputReport {
    fn summary(&self) -> Option<String> {
        match self {
            OutputReport::Written { written, keys } => {
                Some(format!("wrote   {} to {written}", keys.join(", ")))
            }
            _ => None,
        }
    }
}

/// `output`: the outputs, the `.env` lines, or the `.env` file written.
pub async fn run(ctx: &Ctx, args: &OutputArgs) -> anyhow::Result<OutputReport> {
    let json = ctx.printer.is_json();
    let outputs = read(ctx).await?;
    if let Some(path) = &args.write_env {
        // A file that names a stack keeps naming the one it now holds.
        let names_stack = crate::settings::DotEnv::read(path)?
            .get("ALEX_STACK")
            .is_some();
        let lines = outputs.env_lines(names_stack);
        crate::dotenv::upsert(path, &lines)?;
        return Ok(OutputReport::Written {
            written: path.display().to_string(),
            keys: lines.iter().map(|(k, _)| *k).collect(),
        });
    }
    if args.env {
        return Ok(OutputReport::Env(EnvLines(outputs.env_lines(false))));
    }
    Ok(OutputReport::Outputs {
        outputs: Box::new(outputs),
        show_key: args.show_key || json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_output_masks_the_key_unless_asked() {
        let outputs = Outputs {
            stack: "alex".into(),
            api_endpoint: "https://a/prod/ingest".into(),
            search_endpoint: "https://a/prod/search".into(),
            rest_api_id: "a".into(),
            api_key_id: "kid".into(),
            api_key: "abcdSECRETVALUE".into(),
            search_only_endpoint: Some("https://s/prod/search".into()),
            search_only_key_id: Some("sid".into()),
            search_only_key: Some("wxyzREADONLY".into()),
            vector_bucket: "b".into(),
            index: "i".into(),
            function_arn: None,
            role_arn: None,
            operator_arns: vec![
                "arn:aws:execute-api:us-east-1:1:a/prod/POST/documents/delete".into(),
            ],
            region: "us-east-1".into(),
        };
        let text = outputs.render(false);
        assert!(!text.contains("SECRETVALUE"), "{text}");
        assert!(
            text.contains("api_key              abcd… (hidden"),
            "{text}"
        );
        assert!(!text.contains("READONLY"), "{text}");
        assert!(
            text.contains("search_only_key      wxyz… (hidden"),
            "{text}"
        );
        let shown = outputs.render(true);
        assert!(shown.contains("abcdSECRETVALUE") && shown.contains("wxyzREADONLY"));
    }
}
