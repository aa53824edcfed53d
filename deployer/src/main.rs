//! `deployer`: deploys, converges and removes the alex ingest/search stack on AWS, and talks
//! to the deployed API. Data goes to stdout, progress and logs to stderr; exit codes are
//! 0 success, 1 failure, 2 usage (and `plan --detailed-exitcode`: 2 when there are changes).
//! Only [`printer`] writes to the terminal.

#![deny(clippy::print_stdout, clippy::print_stderr)]

mod api_client;
mod aws_error;
mod cli;
mod commands;
mod context;
mod dotenv;
mod endpoint;
mod extract;
mod model;
mod ownership;
mod package;
mod printer;
mod report;
mod resources;
mod settings;
mod stack;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use context::Ctx;
use printer::Printer;
use std::process::ExitCode;

/// Where a command that talks to the API sends its requests: an endpoint and key resolved for
/// this stack (flags, `.env`, environment), else read from the deployed stack; said on stderr.
async fn api_target(
    global: &cli::GlobalArgs,
    printer: &Printer,
    command: &Command,
    api: &cli::ApiArgs,
    source: Option<&settings::Source>,
) -> anyhow::Result<(String, api_client::Credentials)> {
    let (endpoint, key, from) = match (&api.api_endpoint, &api.api_key, source) {
        (Some(e), Some(k), Some(source)) => (e.clone(), k.clone(), source.to_string()),
        _ => {
            let ctx = Ctx::load(global, shared::names::DEFAULT_INDEX).await?;
            let outputs = commands::output::read(&ctx).await?;
            (
                api.api_endpoint.clone().unwrap_or(outputs.api_endpoint),
                api.api_key.clone().unwrap_or(outputs.api_key),
                settings::Source::Deployed.to_string(),
            )
        }
    };
    printer.step(&format!(
        "api     stack `{}`: {} (from {from})",
        global.name,
        api_client::escape_controls(&endpoint)
    ));
    // The operator's routes are signed with the same credential chain as every other command;
    // commands that only use the key never load it (no AWS configuration needed to search).
    let operator = matches!(
        command,
        Command::Reindex(_)
            | Command::Sync(cli::SyncArgs {
                no_delete: false,
                dry_run: false,
                ..
            })
            | Command::Documents(cli::DocumentsArgs {
                action: cli::DocumentsAction::Delete { .. },
                ..
            })
    );
    let signer = match operator {
        true => api_client::Signer::from_config(&context::sdk_config(global).await, &endpoint),
        false => None,
    };
    Ok((endpoint, api_client::Credentials { key, signer }))
}

/// After a command found nothing at an endpoint that came from `.env` or the environment:
/// whether the stack is deployed there at all (best effort; needs AWS credentials). `None`
/// when it is, or when that cannot be told.
async fn stale_target(global: &cli::GlobalArgs, endpoint: &str) -> Option<anyhow::Error> {
    let ctx = Ctx::load(global, shared::names::DEFAULT_INDEX).await.ok()?;
    let base = |e: &str| api_client::api_url(e, "");
    match commands::output::read(&ctx).await {
        Err(e) if e.is::<commands::output::NotDeployed>() => Some(e.context(format!(
            "{} is not stack `{}`'s endpoint any more",
            api_client::escape_controls(endpoint),
            global.name
        ))),
        Err(_) => None,
        Ok(now) if base(&now.api_endpoint) != base(endpoint) => Some(anyhow::anyhow!(
            "{} is not stack `{}`'s endpoint any more (it is now {}; `down` and `up` change it)\nhint: run `deployer output --write-env .env`",
            api_client::escape_controls(endpoint),
            global.name,
            now.api_endpoint
        )),
        Ok(_) => None,
    }
}

/// An S3 client when any of `paths` is an `s3://` source (only then is AWS configuration read).
async fn s3_client(
    global: &cli::GlobalArgs,
    paths: &[std::path::PathBuf],
) -> Option<aws_sdk_s3::Client> {
    match commands::ingest::s3::any(paths) {
        true => Some(commands::ingest::s3::client(global).await),
        false => None,
    }
}

/// Runs a command that talks to the deployed API and prints its report. When it fails
/// entirely at an endpoint from `.env` or the environment, says whether the stack is still
/// deployed there.
async fn run_api(
    global: &cli::GlobalArgs,
    command: &Command,
    source: Option<&settings::Source>,
) -> anyhow::Result<ExitCode> {
    let printer = Printer::of(global);
    let api = match command {
        Command::Ingest(a) => &a.api,
        Command::Sync(a) => &a.api,
        Command::Documents(a) => &a.api,
        Command::Search(a) => &a.api,
        Command::Reindex(a) => &a.api,
        other => anyhow::bail!("`{other:?}` does not talk to the deployed API"),
    };
    let (endpoint, credentials) = api_target(global, &printer, command, api, source).await?;
    let outcome = async {
        match command {
            Command::Ingest(args) => {
                let s3 = s3_client(global, &args.paths).await;
                let report =
                    commands::ingest::run(args, &endpoint, &credentials, &printer, s3.as_ref())
                        .await?;
                if report.failed_entirely() {
                    return Ok(Err(report));
                }
                printer.emit(&report)
            }
            Command::Sync(args) => {
                let s3 = s3_client(global, &args.paths).await;
                let report =
                    commands::sync::run(args, &endpoint, &credentials, &printer, s3.as_ref())
                        .await?;
                printer.emit(&report)
            }
            Command::Documents(args) => {
                let report =
                    commands::documents::run(&args.action, &endpoint, &credentials, &printer)
                        .await?;
                printer.emit(&report)
            }
            Command::Search(args) => {
                let report = commands::search::run(args, &endpoint, &credentials, &printer).await?;
                printer.emit(&report)
            }
            Command::Reindex(args) => match &args.into {
                Some(new) => {
                    let report = commands::reindex::into(
                        global,
                        args,
                        new,
                        &endpoint,
                        &credentials,
                        &printer,
                    )
                    .await?;
                    printer.emit(&report)
                }
                None => {
                    let report =
                        commands::reindex::run(args, &endpoint, &credentials, &printer).await?;
                    printer.emit(&report)
                }
            },
            _ => unreachable!("matched above"),
        }
        .map(Ok)
    }
    .await;
    let from_deployed = source.is_none() || api.api_endpoint.is_none();
    let stale = match (&outcome, from_deployed) {
        (Ok(Ok(_)), _) | (_, true) => None,
        _ => stale_target(global, &endpoint).await,
    };
    match (outcome, stale) {
        (_, Some(stale)) => Err(stale),
        (Ok(Ok(code)), None) => Ok(code),
        (Ok(Err(report)), None) => printer.emit(&report),
        (Err(e), None) => Err(e),
    }
}

/// Runs the command and prints its report ([`Printer::emit`], the one place output happens).
async fn run(
    cli: Cli,
    matches: clap::ArgMatches,
    resolution: settings::Resolution,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Up(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name).await?;
            printer.step(&format!("target  {}", ctx.target()));
            let report = commands::up::run(&ctx, args).await?;
            if !args.dry_run {
                settings::save(&ctx.names.stack, &matches)?;
            }
            printer.emit(&report)
        }
        Command::Plan(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name).await?;
            printer.emit(&commands::plan::run(&ctx, args).await?)
        }
        Command::Down(args) => {
            let ctx = Ctx::load(global, &args.index_name).await?;
            printer.step(&format!("target  {}", ctx.target()));
            printer.emit(&commands::down::run(&ctx, args).await?)
        }
        Command::Output(args) => {
            let ctx = Ctx::load(global, &args.index_name).await?;
            printer.emit(&commands::output::run(&ctx, args).await?)
        }
        Command::Package(args) => printer.emit(&commands::package::run(args, printer)?),
        Command::Doctor(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name).await?;
            printer.emit(&commands::doctor::run(&ctx, args).await?)
        }
        Command::Logs(args) => {
            let ctx = Ctx::load(global, shared::names::DEFAULT_INDEX).await?;
            printer.emit(&commands::logs::run(&ctx, args).await?)
        }
        api => run_api(global, api, resolution.api.as_ref()).await,
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let printer = Printer::of(&cli.global);
    // Every setting resolved once, before anything runs: flags, `{stack}.toml`, `.env`, the
    // environment (the deployed stack's values are read by the commands that need them).
    let resolution = match settings::DotEnv::read(std::path::Path::new(".env"))
        .and_then(|dotenv| settings::resolve(&mut cli, &matches, &dotenv, &settings::ProcessEnv))
    {
        Ok(resolution) => resolution,
        Err(e) => {
            printer.error(&format!("{e:#}"));
            return if e.is::<settings::BadSetting>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let stored = resolution.stack_file_values();
    if !stored.is_empty() {
        printer.step(&format!(
            "using   {} from {}",
            stored.join(", "),
            settings::path(&cli.global.name).display()
        ));
    }
    if printer.is_verbose() {
        for line in &resolution.lines {
            printer.step(&format!(
                "setting {} = {} ({})",
                line.key,
                api_client::escape_controls(&line.value),
                line.source
            ));
        }
        for ignored in &resolution.ignored {
            printer.step(&format!("ignored {ignored}"));
        }
    }
    let level = match (cli.global.quiet, cli.global.verbose) {
        (q, _) if q > 0 => "error",
        // The SDK's own warnings (credential chain, IMDS probes) are noise unless asked for.
        (_, 0) => "deployer=warn,error",
        (_, 1) => "deployer=debug,warn",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEPLOYER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    // The API client's TLS (reqwest on rustls) uses *ring*, like the SDK's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&format!("could not start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, matches, resolution, &printer)) {
        Ok(code) => code,
        Err(err) => {
            printer.error(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}
