//! Settings that stick, like Terraform's `.tfvars`: the stack flags a successful `up` was
//! given are kept in `{stack}.toml` in the working directory (`alex.toml`), merged with what
//! was kept before; `up`, `plan`, `down` and `output` read them back for every flag not given
//! on the command line or in the environment. The file is plain TOML (`timeout = 20`), meant
//! to be read, edited and committed; a value in it goes through the same checks as the flag.
//!
//! The endpoint settings (`--endpoint-profile`, `--endpoint-max-concurrency`) stick on their own
//! (the function's `EMBED_PINNED`), and one-shot flags (`--zip`, `--adopt`,
//! `--unpin-endpoint-settings`) never stick.

use anyhow::{Context as _, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};
use std::ffi::OsString;
use std::path::PathBuf;

/// Flags of `up`/`plan` that stick (clap ids: the field names).
pub const STACK_KEYS: [&str; 13] = [
    "embedding_endpoint",
    "index_name",
    "index_mode",
    "kms_key",
    "dimension",
    "metric",
    "memory",
    "timeout",
    "arch",
    "log_retention_days",
    "quota",
    "rate",
    "burst",
];

/// The sticky flags a subcommand takes.
fn keys_of(subcommand: &str) -> &'static [&'static str] {
    match subcommand {
        "up" | "plan" | "doctor" => &STACK_KEYS,
        // `index_name`.
        "down" | "output" => &STACK_KEYS[1..2],
        _ => &[],
    }
}

/// `{stack}.toml` in the working directory.
pub fn path(stack: &str) -> PathBuf {
    PathBuf::from(format!("{stack}.toml"))
}

/// The stored settings, if the file exists.
pub fn load(stack: &str) -> anyhow::Result<Option<toml_edit::DocumentMut>> {
    let path = path(stack);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not read `{}`", path.display())),
    };
    let doc = text
        .parse::<toml_edit::DocumentMut>()
        .with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    Ok(Some(doc))
}

/// A stored value as the flag's text.
fn flag_value(item: &toml_edit::Item) -> Option<String> {
    let value = item.as_value()?;
    Some(match value {
        toml_edit::Value::String(s) => s.value().clone(),
        toml_edit::Value::Integer(i) => i.value().to_string(),
        toml_edit::Value::Float(f) => f.value().to_string(),
        toml_edit::Value::Boolean(b) => b.value().to_string(),
        _ => return None,
    })
}

/// Whether the user gave `id` (command line or environment) to the subcommand; `id` is one of
/// its arguments ([`keys_of`]).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The arguments with stored settings appended for every sticky flag not given, and the
/// `key = value` pairs that were used (to say so). Unknown keys are an error naming the file.
pub fn with_stored(args: Vec<OsString>) -> anyhow::Result<(Vec<OsString>, Vec<String>)> {
    let Ok(matches) = crate::cli::Cli::command().try_get_matches_from(&args) else {
        // Usage errors are clap's to report, from the arguments as given.
        return Ok((args, vec![]));
    };
    let stack = matches
        .get_one::<String>("name")
        .cloned()
        .unwrap_or_else(|| shared::names::DEFAULT_STACK.to_string());
    let Some((sub, sub_matches)) = matches.subcommand() else {
        return Ok((args, vec![]));
    };
    let keys = keys_of(sub);
    if keys.is_empty() {
        return Ok((args, vec![]));
    }
    let Some(doc) = load(&stack)? else {
        return Ok((args, vec![]));
    };
    let mut args = args;
    let mut used = Vec::new();
    for (key, item) in doc.iter() {
        if !STACK_KEYS.contains(&key) {
            bail!(
                "`{}` has an unknown setting `{key}`\nhint: it may hold {}",
                path(&stack).display(),
                STACK_KEYS.join(", ")
            );
        }
        if !keys.contains(&key) || given(sub_matches, key) {
            continue;
        }
        let value = flag_value(item).with_context(|| {
            format!(
                "`{}`: `{key}` must be a string, number or boolean",
                path(&stack).display()
            )
        })?;
        args.push(format!("--{}={value}", key.replace('_', "-")).into());
        used.push(format!("{key} = {value}"));
    }
    Ok((args, used))
}

/// After a successful `up`: stores the sticky flags it was given, keeping the others (and the
/// file's comments).
pub fn save(stack: &str, matches: &ArgMatches) -> anyhow::Result<()> {
    let Some(("up", sub)) = matches.subcommand() else {
        return Ok(());
    };
    let mut doc = load(stack)?.unwrap_or_else(|| {
        let mut doc = toml_edit::DocumentMut::new();
        doc.decor_mut().set_prefix(format!(
            "# Settings of stack `{stack}`, written by `deployer up` and read by up, plan, down and\n# output for every flag not given. Edit freely; a flag still wins.\n"
        ));
        doc
    });
    let mut changed = false;
    for key in keys_of("up") {
        // Only what was typed: values from the environment (or `.env`) stay there.
        if sub.value_source(key) != Some(ValueSource::CommandLine) {
            continue;
        }
        let Some(raw) = sub.get_raw(key).and_then(|mut v| v.next()) else {
            continue;
        };
        let text = raw.to_string_lossy().into_owned();
        let value: toml_edit::Value = if let Ok(i) = text.parse::<i64>() {
            i.into()
        } else if let Ok(f) = text.parse::<f64>() {
            f.into()
        } else {
            text.as_str().into()
        };
        if flag_value(&toml_edit::Item::Value(value.clone())) != doc.get(key).and_then(flag_value) {
            doc[*key] = toml_edit::value(value);
            changed = true;
        }
    }
    if changed {
        let path = path(stack);
        std::fs::write(&path, doc.to_string())
            .with_context(|| format!("could not write `{}`", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sticky_key_is_a_flag_of_up() {
        let cmd = crate::cli::Cli::command();
        let up = cmd
            .get_subcommands()
            .find(|c| c.get_name() == "up")
            .unwrap();
        for key in keys_of("up") {
            assert!(
                up.get_arguments().any(|a| a.get_id() == *key),
                "{key} is not a flag of up"
            );
        }
    }

    #[test]
    fn values_become_flag_text() {
        let doc: toml_edit::DocumentMut = "timeout = 20\nrate = 2.5\nmetric = \"cosine\"\n"
            .parse()
            .unwrap();
        assert_eq!(flag_value(&doc["timeout"]).as_deref(), Some("20"));
        assert_eq!(flag_value(&doc["rate"]).as_deref(), Some("2.5"));
        assert_eq!(flag_value(&doc["metric"]).as_deref(), Some("cosine"));
    }
}
