//! Every setting of a command, resolved once before it runs, each with where it came from:
//!
//! flag > `{stack}.toml` > `.env` > environment > the deployed stack > default.
//!
//! - `{stack}.toml` holds the stack flags a successful `up` was given, like Terraform's
//!   `.tfvars` (`timeout = 20`): `up`, `plan`, `doctor` read all of them, `down` and `output`
//!   the index name. A value in it goes through the same parser as the flag.
//! - `.env` is read, never applied to the process: `ALEX_STACK`, `SAGEMAKER_ENDPOINT`,
//!   `DEFAULT_AWS_REGION`, `ALEX_API_ENDPOINT`, `ALEX_API_KEY`.
//! - An API endpoint and key belong to one stack: the one named beside them (`ALEX_STACK` in
//!   the same `.env`, or in the environment), else the default stack. They are used only for
//!   that stack: `--name fresh search …` never answers from a `.env` written for `alex`.
//! - What only the deployed stack knows (its endpoint and key, the endpoint settings pinned on
//!   the function) is read when the command needs it.
//!
//! `-v` prints each setting with its source. One-shot flags (`--zip`, `--adopt`,
//! `--unpin-endpoint-settings`) never stick; the endpoint settings stick on the function.

use crate::cli::{self, ApiArgs, Cli, Command, StackArgs};
use anyhow::Context as _;
use clap::ArgMatches;
use clap::builder::{EnumValueParser, TypedValueParser};
use clap::parser::ValueSource;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Flags of `up`/`plan`/`doctor` that stick (clap ids: the field names).
pub const STACK_KEYS: [&str; 14] = [
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
    "search_key",
];

/// The `.env` keys read (the original scripts' names, and the stack they belong to).
pub const DOTENV_KEYS: [&str; 5] = [
    "ALEX_STACK",
    "SAGEMAKER_ENDPOINT",
    "DEFAULT_AWS_REGION",
    "ALEX_API_ENDPOINT",
    "ALEX_API_KEY",
];

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// `{stack}.toml`.
    StackFile(PathBuf),
    /// `.env` in the working directory.
    DotEnv,
    /// The process environment (the variable).
    Environment(&'static str),
    /// Read from the deployed stack.
    Deployed,
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::StackFile(path) => write!(f, "{}", path.display()),
            Source::DotEnv => f.write_str(".env"),
            Source::Environment(var) => write!(f, "environment {var}"),
            Source::Deployed => f.write_str("the deployed stack"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One resolved setting: its name, its value as text (secrets masked) and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The setting (the flag's id).
    pub key: String,
    /// The value, as shown.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// What resolution found, for `-v` and for the `using … from alex.toml` line.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Every setting the command takes, in order.
    pub lines: Vec<Line>,
    /// Where the API endpoint and key came from, for commands that talk to the API (the
    /// deployed stack when `None` of them was given for this stack).
    pub api: Option<Source>,
    /// Values ignored because they belong to another stack (said at `-v`).
    pub ignored: Vec<String>,
}

impl Resolution {
    /// The settings taken from `{stack}.toml`, as `key = value`.
    pub fn stack_file_values(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| matches!(l.source, Source::StackFile(_)))
            .map(|l| format!("{} = {}", l.key, l.value))
            .collect()
    }
}

/// A value in `{stack}.toml` or `.env` that its flag's parser refuses: a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{place}: {message}")]
pub struct BadSetting {
    /// The file and key.
    pub place: String,
    /// The parser's message (naming the flag).
    pub message: String,
}

/// The `.env` file's values (only [`DOTENV_KEYS`]); never applied to the process.
#[derive(Debug, Default, Clone)]
pub struct DotEnv {
    vars: BTreeMap<String, String>,
}

impl DotEnv {
    /// Reads `path` like the original scripts (`KEY=value`, `export KEY=value`, quotes
    /// trimmed); a missing file is empty.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("could not read `{}`", path.display()));
            }
        };
        Ok(Self::parse(&text))
    }

    /// The values of `text`.
    pub fn parse(text: &str) -> Self {
        let mut vars = BTreeMap::new();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let k = k.trim().trim_start_matches("export ").trim();
            let v = v.trim().trim_matches('"').trim_matches('\'');
            if DOTENV_KEYS.contains(&k) && !v.is_empty() {
                vars.insert(k.to_string(), v.to_string());
            }
        }
        Self { vars }
    }

    /// One value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }
}

/// The process environment, or a fixture's.
pub trait Environment {
    /// A variable's value, when set and not empty.
    fn var(&self, key: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Environment for F {
    fn var(&self, key: &str) -> Option<String> {
        self(key).filter(|v| !v.is_empty())
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

/// Whether `id` was typed on the command line.
fn typed(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The source clap saw for `id` (flag, its environment variable, or the default).
fn clap_source(matches: &ArgMatches, id: &str, var: Option<&'static str>) -> Source {
    match (matches.value_source(id), var) {
        (Some(ValueSource::CommandLine), _) => Source::Flag,
        (Some(ValueSource::EnvVariable), Some(var)) => Source::Environment(var),
        _ => Source::Default,
    }
}

/// Parses `raw` with the flag's own parser; the error names the flag like clap's (`invalid
/// value '300' for '--timeout <TIMEOUT>'`).
fn parse_as<P: TypedValueParser>(
    parser: P,
    flag: &'static str,
    raw: &str,
) -> Result<P::Value, clap::Error> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let up = cli.find_subcommand("up").unwrap_or(&cli);
    let arg = up.get_arguments().find(|a| a.get_id() == flag);
    parser.parse_ref(up, arg, OsStr::new(raw))
}

/// A clap error's message line, without `error: `.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.trim_start_matches("error: ").trim().to_string()
}

/// Sets one sticky stack setting from its text, with the flag's parser.
fn set_stack_key(stack: &mut StackArgs, key: &'static str, raw: &str) -> Result<(), clap::Error> {
    match key {
        "embedding_endpoint" => stack.embedding_endpoint = raw.to_string(),
        "index_name" => stack.index_name = parse_as(cli::index_name, key, raw)?,
        "index_mode" => {
            stack.index_mode = Some(parse_as(
                EnumValueParser::<cli::IndexMode>::new(),
                key,
                raw,
            )?)
        }
        "kms_key" => stack.kms_key = Some(parse_as(cli::kms_key_arn, key, raw)?),
        "dimension" => stack.dimension = parse_as(cli::dimension(), key, raw)?,
        "metric" => stack.metric = parse_as(EnumValueParser::<cli::Metric>::new(), key, raw)?,
        "memory" => stack.memory = parse_as(cli::memory_mb(), key, raw)?,
        "timeout" => stack.timeout = parse_as(cli::timeout_s(), key, raw)?,
        "arch" => stack.arch = parse_as(EnumValueParser::<cli::Arch>::new(), key, raw)?,
        "log_retention_days" => {
            stack.log_retention_days = parse_as(cli::log_retention_days, key, raw)?
        }
        "quota" => stack.quota = parse_as(clap::value_parser!(i32), key, raw)?,
        "rate" => stack.rate = parse_as(cli::rate, key, raw)?,
        "burst" => stack.burst = parse_as(clap::value_parser!(i32), key, raw)?,
        "search_key" => {
            stack.search_key = parse_as(clap::builder::BoolishValueParser::new(), key, raw)?
        }
        _ => unreachable!("every STACK_KEYS entry is handled (tested)"),
    }
    Ok(())
}

/// A stack setting's current value, as text.
fn stack_key_text(stack: &StackArgs, key: &str) -> String {
    match key {
        "embedding_endpoint" => stack.embedding_endpoint.clone(),
        "index_name" => stack.index_name.clone(),
        "index_mode" => stack
            .index_mode
            .map_or("(the bucket's)".into(), |m| format!("{m:?}")),
        "kms_key" => stack.kms_key.clone().unwrap_or_else(|| "(none)".into()),
        "dimension" => stack.dimension.to_string(),
        "metric" => format!("{:?}", stack.metric).to_lowercase(),
        "memory" => stack.memory.to_string(),
        "timeout" => stack.timeout.to_string(),
        "arch" => stack.arch.as_str().to_string(),
        "log_retention_days" => stack.log_retention_days.to_string(),
        "quota" => stack.quota.to_string(),
        "rate" => stack.rate.to_string(),
        "burst" => stack.burst.to_string(),
        "search_key" => stack.search_key.to_string(),
        _ => String::new(),
    }
}

/// The stack settings a command takes.
enum StackSettings<'a> {
    /// `up`, `plan`, `doctor`: every sticky flag.
    All(&'a mut StackArgs),
    /// `down`, `output`: the index name.
    Index(&'a mut String),
    /// The rest.
    None,
}

fn stack_settings(command: &mut Command) -> StackSettings<'_> {
    match command {
        Command::Up(a) => StackSettings::All(&mut a.stack),
        Command::Plan(a) => StackSettings::All(&mut a.stack),
        Command::Doctor(a) => StackSettings::All(&mut a.stack),
        Command::Down(a) => StackSettings::Index(&mut a.index_name),
        Command::Output(a) => StackSettings::Index(&mut a.index_name),
        _ => StackSettings::None,
    }
}

fn api_args(command: &mut Command) -> Option<&mut ApiArgs> {
    match command {
        Command::Ingest(a) => Some(&mut a.api),
        Command::Sync(a) => Some(&mut a.api),
        Command::Search(a) => Some(&mut a.api),
        Command::Documents(a) => Some(&mut a.api),
        Command::Reindex(a) => Some(&mut a.api),
        _ => None,
    }
}

/// Resolves every setting of `cli` in place (`matches` tells which were typed), from
/// `{stack}.toml` (read from the working directory), `dotenv` and `env`.
pub fn resolve(
    cli: &mut Cli,
    matches: &ArgMatches,
    dotenv: &DotEnv,
    env: &dyn Environment,
) -> anyhow::Result<Resolution> {
    let mut out = Resolution::default();
    let global = &mut cli.global;

    // The stack: flag > .env's ALEX_STACK > environment > default.
    let stack_source = if typed(matches, "name") {
        Source::Flag
    } else if let Some(name) = dotenv.get("ALEX_STACK") {
        global.name = cli::stack_name(name).map_err(|rule| BadSetting {
            place: ".env: ALEX_STACK".into(),
            message: format!("invalid value '{name}' for '--name <NAME>': {rule}"),
        })?;
        Source::DotEnv
    } else {
        clap_source(matches, "name", Some("ALEX_STACK"))
    };
    let stack = global.name.clone();
    out.lines.push(Line {
        key: "name".into(),
        value: stack.clone(),
        source: stack_source,
    });

    // The region: flag > .env > environment (DEFAULT_AWS_REGION) > the SDK's chain.
    let region = if typed(matches, "region") {
        global.region.clone().map(|r| (r, Source::Flag))
    } else if let Some(r) = dotenv.get("DEFAULT_AWS_REGION") {
        Some((r.to_string(), Source::DotEnv))
    } else {
        env.var("DEFAULT_AWS_REGION")
            .map(|r| (r, Source::Environment("DEFAULT_AWS_REGION")))
    };
    if let Some((value, source)) = region {
        global.region = Some(value.clone());
        out.lines.push(Line {
            key: "region".into(),
            value,
            source,
        });
    }

    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    let file = path(&stack);
    let stored = match stack_settings(&mut cli.command) {
        StackSettings::None => None,
        _ => load(&stack)?,
    };
    if let Some(doc) = &stored {
        for (key, _) in doc.iter() {
            if !STACK_KEYS.contains(&key) {
                anyhow::bail!(
                    "`{}` has an unknown setting `{key}`\nhint: it may hold {}",
                    file.display(),
                    STACK_KEYS.join(", ")
                );
            }
        }
    }
    let stored_text = |key: &str| -> anyhow::Result<Option<String>> {
        let Some(item) = stored.as_ref().and_then(|d| d.get(key)) else {
            return Ok(None);
        };
        flag_value(item).map(Some).with_context(|| {
            format!(
                "`{}`: `{key}` must be a string, number or boolean",
                file.display()
            )
        })
    };
    let bad = |key: &str, value: &str, place: &str, e: clap::Error| BadSetting {
        place: format!("{place}: {key} = {value}"),
        message: first_line(&e.to_string()),
    };
    match stack_settings(&mut cli.command) {
        StackSettings::All(args) => {
            for key in STACK_KEYS {
                let var = (key == "embedding_endpoint").then_some("SAGEMAKER_ENDPOINT");
                let source = if typed(&sub, key) {
                    Source::Flag
                } else if let Some(value) = stored_text(key)? {
                    set_stack_key(args, key, &value)
                        .map_err(|e| bad(key, &value, &file.display().to_string(), e))?;
                    Source::StackFile(file.clone())
                } else if let Some(value) = var.and_then(|v| dotenv.get(v)) {
                    set_stack_key(args, key, value).map_err(|e| bad(key, value, ".env", e))?;
                    Source::DotEnv
                } else {
                    clap_source(&sub, key, var)
                };
                out.lines.push(Line {
                    key: key.into(),
                    value: stack_key_text(args, key),
                    source,
                });
            }
        }
        StackSettings::Index(index) => {
            let source = if typed(&sub, "index_name") {
                Source::Flag
            } else if let Some(value) = stored_text("index_name")? {
                *index = cli::index_name(&value).map_err(|rule| BadSetting {
                    place: format!("{}: index_name = {value}", file.display()),
                    message: format!(
                        "invalid value '{value}' for '--index-name <INDEX_NAME>': {rule}"
                    ),
                })?;
                Source::StackFile(file.clone())
            } else {
                Source::Default
            };
            out.lines.push(Line {
                key: "index_name".into(),
                value: index.clone(),
                source,
            });
        }
        StackSettings::None => {}
    }

    if let Some(api) = api_args(&mut cli.command) {
        // Documents' API flags are on its own level, like the others'.
        let api_matches = &sub;
        let env_stack = env
            .var("ALEX_STACK")
            .unwrap_or_else(|| shared::names::DEFAULT_STACK.to_string());
        let dotenv_stack = dotenv
            .get("ALEX_STACK")
            .unwrap_or(shared::names::DEFAULT_STACK);
        let mut pick = |id: &str, var: &'static str, slot: &mut Option<String>| -> Option<Source> {
            if typed(api_matches, id) {
                return Some(Source::Flag);
            }
            let from_dotenv = dotenv.get(var);
            let from_env = env.var(var);
            let found = match (from_dotenv, from_env) {
                (Some(v), _) if dotenv_stack == stack => Some((v.to_string(), Source::DotEnv)),
                (_, Some(v)) if env_stack == stack => Some((v, Source::Environment(var))),
                _ => None,
            };
            if from_dotenv.is_some() && dotenv_stack != stack {
                out.ignored.push(format!(
                    "{var} from .env (written for stack `{dotenv_stack}`, this command is for `{stack}`)"
                ));
            }
            if env.var(var).is_some() && env_stack != stack {
                out.ignored.push(format!(
                    "{var} from the environment (stack `{env_stack}`, this command is for `{stack}`)"
                ));
            }
            *slot = found.as_ref().map(|(v, _)| v.clone());
            found.map(|(_, s)| s)
        };
        let endpoint = pick("api_endpoint", "ALEX_API_ENDPOINT", &mut api.api_endpoint);
        let key = pick("api_key", "ALEX_API_KEY", &mut api.api_key);
        for (id, value, source) in [
            ("api_endpoint", api.api_endpoint.clone(), &endpoint),
            (
                "api_key",
                api.api_key.as_ref().map(|_| "(hidden)".into()),
                &key,
            ),
        ] {
            out.lines.push(Line {
                key: id.into(),
                value: value.unwrap_or_else(|| "(read from the deployed stack)".into()),
                source: source.clone().unwrap_or(Source::Deployed),
            });
        }
        out.api = endpoint;
    }
    Ok(out)
}

/// Sets one sticky key in `{stack}.toml` (keeping the rest and the comments): how `reindex
/// --into` makes later `up`s use the new index.
pub fn set_key(stack: &str, key: &str, value: &str) -> anyhow::Result<()> {
    debug_assert!(STACK_KEYS.contains(&key), "{key} is not a sticky key");
    let mut doc = load(stack)?.unwrap_or_default();
    if doc.get(key).and_then(|i| i.as_str()) == Some(value) {
        return Ok(());
    }
    doc[key] = toml_edit::value(value);
    let path = path(stack);
    std::fs::write(&path, doc.to_string())
        .with_context(|| format!("could not write `{}`", path.display()))
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
    for key in STACK_KEYS {
        // Only what was typed: values from the environment (or `.env`) stay there.
        if !typed(sub, key) {
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
        } else if let Ok(b) = text.parse::<bool>() {
            b.into()
        } else {
            text.as_str().into()
        };
        if flag_value(&toml_edit::Item::Value(value.clone())) != doc.get(key).and_then(flag_value) {
            doc[key] = toml_edit::value(value);
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
    use clap::{CommandFactory, FromArgMatches};

    fn parsed(args: &[&str]) -> (Cli, ArgMatches) {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("deployer").chain(args.iter().copied()))
            .unwrap();
        (Cli::from_arg_matches(&matches).unwrap(), matches)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_sticky_key_is_a_flag_of_up_and_parses_its_default() {
        let cmd = Cli::command();
        let up = cmd
            .get_subcommands()
            .find(|c| c.get_name() == "up")
            .unwrap();
        let (mut cli, _) = parsed(&["up"]);
        let Command::Up(args) = &mut cli.command else {
            unreachable!()
        };
        for key in STACK_KEYS {
            assert!(
                up.get_arguments().any(|a| a.get_id() == key),
                "{key} is not a flag of up"
            );
            let text = match key {
                "index_mode" => "enhanced".to_string(),
                "kms_key" => "arn:aws:kms:us-east-1:123456789012:key/abc".to_string(),
                _ => stack_key_text(&args.stack, key),
            };
            set_stack_key(&mut args.stack, key, &text).unwrap_or_else(|e| panic!("{key}: {e}"));
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

    #[test]
    fn a_file_value_is_refused_like_the_flag_naming_it() {
        let (_, _) = parsed(&["plan"]);
        let mut stack = parsed(&["up"]).0;
        let Command::Up(args) = &mut stack.command else {
            unreachable!()
        };
        let e = set_stack_key(&mut args.stack, "timeout", "300").unwrap_err();
        assert!(e.to_string().contains("--timeout"), "{e}");
        assert!(set_stack_key(&mut args.stack, "metric", "manhattan").is_err());
        assert!(set_stack_key(&mut args.stack, "rate", "fast").is_err());
    }

    #[test]
    fn dotenv_is_read_not_applied() {
        let env = DotEnv::parse(
            "# mine\nexport ALEX_API_KEY=\"k\"\nOPENAI_API_KEY=x\nDEFAULT_AWS_REGION=eu-west-1\n",
        );
        assert_eq!(env.get("ALEX_API_KEY"), Some("k"));
        assert_eq!(env.get("OPENAI_API_KEY"), None);
        assert_eq!(env.get("DEFAULT_AWS_REGION"), Some("eu-west-1"));
    }

    #[test]
    fn the_api_target_of_a_dotenv_serves_only_its_stack() {
        let dotenv = DotEnv::parse("ALEX_API_ENDPOINT=https://a/prod/ingest\nALEX_API_KEY=k\n");
        // The .env names no stack: it is the default stack's.
        let (mut cli, m) = parsed(&["search", "q"]);
        let r = resolve(&mut cli, &m, &dotenv, &no_env).unwrap();
        assert_eq!(r.api, Some(Source::DotEnv));
        let Command::Search(s) = &cli.command else {
            unreachable!()
        };
        assert_eq!(s.api.api_endpoint.as_deref(), Some("https://a/prod/ingest"));
        // Another stack named by flag: the .env is not used, and that is said.
        let (mut cli, m) = parsed(&["--name", "fresh", "search", "q"]);
        let r = resolve(&mut cli, &m, &dotenv, &no_env).unwrap();
        assert_eq!(r.api, None);
        assert!(r.ignored[0].contains("written for stack `alex`"), "{r:?}");
        let Command::Search(s) = &cli.command else {
            unreachable!()
        };
        assert_eq!((&s.api.api_endpoint, &s.api.api_key), (&None, &None));
        // A .env that names its stack selects it; a flag still wins.
        let named = DotEnv::parse("ALEX_STACK=fresh\nALEX_API_ENDPOINT=https://f/prod/ingest\n");
        let (mut cli, m) = parsed(&["search", "q"]);
        let r = resolve(&mut cli, &m, &named, &no_env).unwrap();
        assert_eq!(cli.global.name, "fresh");
        assert_eq!(r.api, Some(Source::DotEnv));
        let (mut cli, m) = parsed(&["search", "q", "--api-endpoint", "https://x/prod/ingest"]);
        let r = resolve(&mut cli, &m, &named, &no_env).unwrap();
        assert_eq!(r.api, Some(Source::Flag));
    }

    #[test]
    fn precedence_is_flag_file_dotenv_environment_default() {
        let env = |k: &str| match k {
            "SAGEMAKER_ENDPOINT" => Some("from-env".to_string()),
            "DEFAULT_AWS_REGION" => Some("us-west-2".to_string()),
            _ => None,
        };
        let dotenv = DotEnv::parse("SAGEMAKER_ENDPOINT=from-dotenv\n");
        let (mut cli, m) = parsed(&["plan"]);
        let r = resolve(&mut cli, &m, &dotenv, &env).unwrap();
        let line = |k: &str| r.lines.iter().find(|l| l.key == k).unwrap().clone();
        assert_eq!(line("embedding_endpoint").value, "from-dotenv");
        assert_eq!(line("embedding_endpoint").source, Source::DotEnv);
        assert_eq!(
            line("region").source,
            Source::Environment("DEFAULT_AWS_REGION")
        );
        assert_eq!(line("memory").source, Source::Default);
        let (mut cli, m) = parsed(&["plan", "--embedding-endpoint", "typed"]);
        let r = resolve(&mut cli, &m, &dotenv, &env).unwrap();
        assert_eq!(r.lines[2].source, Source::Flag);
        assert_eq!(r.lines[2].value, "typed");
    }
}
