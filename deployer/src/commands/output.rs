//! `output`: the endpoints, the API key (id and value) and the resource names of the deployed
//! stack, as text, JSON, `.env` lines, or upserted into a `.env` file.

use crate::cli::OutputArgs;
use crate::context::Ctx;
use crate::resources::{api_key, function, rest_api, role};
use anyhow::Context as _;
use serde::Serialize;
use std::path::Path;

/// The stack's outputs.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
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
    /// Region.
    pub region: String,
}

impl Outputs {
    /// The `.env` lines.
    pub fn env_lines(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VECTOR_BUCKET", self.vector_bucket.clone()),
            ("ALEX_API_ENDPOINT", self.api_endpoint.clone()),
            ("ALEX_API_KEY", self.api_key.clone()),
        ]
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
        let key = if show_key {
            self.api_key.clone()
        } else {
            masked(&self.api_key)
        };
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
            ("region", &self.region),
        ];
        rows.iter().map(|(k, v)| format!("{k:<16} {v}\n")).collect()
    }
}

/// Reads the outputs; an error with a hint when the stack is not deployed.
pub async fn read(ctx: &Ctx) -> anyhow::Result<Outputs> {
    let not_deployed = |what: &str| {
        anyhow::anyhow!(
            "stack `{}` is not deployed in {} ({what})\nhint: run `deployer up` first",
            ctx.names.stack,
            ctx.region
        )
    };
    let api = rest_api::find(ctx).await?;
    let Some(api) = api.iter().find(|a| a.managed) else {
        return Err(not_deployed(&format!(
            "no REST API named `{}`",
            ctx.names.api
        )));
    };
    let keys = api_key::find(ctx).await?;
    let Some(key) = keys.iter().find(|k| k.managed) else {
        return Err(not_deployed(&format!(
            "no API key named `{}`",
            ctx.names.api_key
        )));
    };
    let (function_arn, role_arn, value) = tokio::try_join!(
        function::arn(ctx),
        role::arn(ctx),
        api_key::value(ctx, &key.id)
    )?;
    Ok(Outputs {
        api_endpoint: ctx.invoke_url(&api.id, "ingest"),
        search_endpoint: ctx.invoke_url(&api.id, "search"),
        rest_api_id: api.id.clone(),
        api_key_id: key.id.clone(),
        api_key: value,
        vector_bucket: ctx.names.bucket.clone(),
        index: ctx.names.index.clone(),
        function_arn,
        role_arn,
        region: ctx.region.clone(),
    })
}

/// Upserts `KEY=value` lines into the `.env` at `path` (other lines kept; mode 0600).
pub fn write_env(path: &Path, lines: &[(&str, String)]) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read `{}`", path.display())),
    };
    let mut out: Vec<String> = Vec::new();
    let mut written = std::collections::HashSet::new();
    for line in existing.lines() {
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_start_matches("export ").trim());
        match key.and_then(|k| lines.iter().find(|(name, _)| *name == k)) {
            Some((name, value)) => {
                if written.insert(*name) {
                    out.push(format!("{name}={value}"));
                }
            }
            None => out.push(line.to_string()),
        }
    }
    for (name, value) in lines {
        if !written.contains(name) {
            out.push(format!("{name}={value}"));
        }
    }
    let text = out.join("\n") + "\n";
    let tmp = path.with_extension("env.tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("could not write `{}`", tmp.display()))?;
        f.write_all(text.as_bytes())?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("could not replace `{}`", path.display()))?;
    Ok(())
}

/// `output`: prints or writes.
pub async fn run(ctx: &Ctx, args: &OutputArgs, json: bool) -> anyhow::Result<()> {
    let outputs = read(ctx).await?;
    if let Some(path) = &args.write_env {
        write_env(path, &outputs.env_lines())?;
        ctx.progress.step(&format!(
            "wrote   VECTOR_BUCKET, ALEX_API_ENDPOINT, ALEX_API_KEY to {}",
            path.display()
        ));
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    use std::io::Write;
    let result = if args.env && json {
        let lines: serde_json::Map<String, serde_json::Value> = outputs
            .env_lines()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        writeln!(stdout, "{}", serde_json::to_string_pretty(&lines)?)
    } else if args.env {
        outputs
            .env_lines()
            .iter()
            .try_for_each(|(k, v)| writeln!(stdout, "{k}={v}"))
    } else if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&outputs)?)
    } else {
        write!(stdout, "{}", outputs.render(args.show_key))
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_output_masks_the_key_unless_asked() {
        let outputs = Outputs {
            api_endpoint: "https://a/prod/ingest".into(),
            search_endpoint: "https://a/prod/search".into(),
            rest_api_id: "a".into(),
            api_key_id: "kid".into(),
            api_key: "abcdSECRETVALUE".into(),
            vector_bucket: "b".into(),
            index: "i".into(),
            function_arn: None,
            role_arn: None,
            region: "us-east-1".into(),
        };
        let text = outputs.render(false);
        assert!(!text.contains("SECRETVALUE"), "{text}");
        assert!(text.contains("api_key          abcd… (hidden"), "{text}");
        assert!(outputs.render(true).contains("abcdSECRETVALUE"));
    }

    #[test]
    fn write_env_upserts_and_keeps_other_lines() {
        let dir = std::env::temp_dir().join(format!("deployer-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(
            &path,
            "# mine\nOPENAI_API_KEY=x\nALEX_API_KEY=old\nVECTOR_BUCKET=old\n",
        )
        .unwrap();
        let lines = vec![
            ("VECTOR_BUCKET", "b".to_string()),
            ("ALEX_API_ENDPOINT", "e".to_string()),
            ("ALEX_API_KEY", "k".to_string()),
        ];
        write_env(&path, &lines).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# mine\nOPENAI_API_KEY=x\nALEX_API_KEY=k\nVECTOR_BUCKET=b\nALEX_API_ENDPOINT=e\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
