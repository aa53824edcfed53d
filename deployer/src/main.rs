//! `deployer`: deploys, converges and removes the alex ingest/search stack on AWS, and talks
//! to the deployed API. Data goes to stdout, progress and logs to stderr; exit codes are
//! 0 success, 1 failure, 2 usage (and `plan --detailed-exitcode`: 2 when there are changes).

mod api_client;
mod aws_error;
mod cli;
mod commands;
mod context;
mod dotenv;
mod endpoint;
mod model;
mod ownership;
mod package;
mod progress;
mod report;
mod resources;
mod settings;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use context::Ctx;
use std::process::ExitCode;

/// Endpoint and key from flags/env/`.env`, else from the deployed stack.
async fn api_target(
    global: &cli::GlobalArgs,
    api: &cli::ApiArgs,
) -> anyhow::Result<(String, String)> {
    let (endpoint, key) = (&api.api_endpoint, &api.api_key);
    if let (Some(e), Some(k)) = (endpoint, key) {
        return Ok((e.clone(), k.clone()));
    }
    let ctx = Ctx::load(global, shared::names::DEFAULT_INDEX, false).await?;
    let outputs = commands::output::read(&ctx).await?;
    Ok((
        endpoint.clone().unwrap_or(outputs.api_endpoint),
        key.clone().unwrap_or(outputs.api_key),
    ))
}

/// Runs a command that talks to the deployed API (endpoint and key from flags, `.env` or the
/// stack) and prints its report.
async fn run_api(global: &cli::GlobalArgs, command: &Command) -> anyhow::Result<ExitCode> {
    let quiet = global.quiet > 0;
    match command {
        Command::Ingest(args) => {
            let (endpoint, key) = api_target(global, &args.api).await?;
            let progress = progress::Progress::new(quiet);
            let report = commands::ingest::run(args, &endpoint, &key, &progress).await?;
            report::emit(&report, global.json, quiet)
        }
        Command::Documents(args) => {
            let (endpoint, key) = api_target(global, &args.api).await?;
            let progress = progress::Progress::new(quiet);
            let report = commands::documents::run(&args.action, &endpoint, &key, &progress).await?;
            report::emit(&report, global.json, quiet)
        }
        Command::Search(args) => {
            let (endpoint, key) = api_target(global, &args.api).await?;
            let report = commands::search::run(args, &endpoint, &key).await?;
            report::emit(&report, global.json, quiet)
        }
        Command::Reindex(args) => {
            let (endpoint, key) = api_target(global, &args.api).await?;
            let progress = progress::Progress::new(quiet);
            let report = commands::reindex::run(args, &endpoint, &key, &progress).await?;
            report::emit(&report, global.json, quiet)
        }
        other => anyhow::bail!("`{other:?}` does not talk to the deployed API"),
    }
}

/// Runs the command and prints its report ([`report::emit`], the one place output happens).
async fn run(cli: Cli, matches: clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    let quiet = global.quiet > 0;
    match &cli.command {
        Command::Up(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name, false).await?;
            ctx.progress.step(&format!("target  {}", ctx.target()));
            let report = commands::up::run(&ctx, &args.stack).await?;
            settings::save(&ctx.names.stack, &matches)?;
            report::emit(&report, global.json, quiet)
        }
        Command::Plan(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name, true).await?;
            report::emit(&commands::plan::run(&ctx, args).await?, global.json, quiet)
        }
        Command::Down(args) => {
            let ctx = Ctx::load(global, &args.index_name, false).await?;
            ctx.progress.step(&format!("target  {}", ctx.target()));
            report::emit(&commands::down::run(&ctx, args).await?, global.json, quiet)
        }
        Command::Output(args) => {
            let ctx = Ctx::load(global, &args.index_name, false).await?;
            let report = commands::output::run(&ctx, args, global.json).await?;
            report::emit(&report, global.json, quiet)
        }
        Command::Package(args) => {
            let progress = progress::Progress::new(quiet);
            report::emit(
                &commands::package::run(args, &progress)?,
                global.json,
                quiet,
            )
        }
        Command::Doctor(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name, true).await?;
            report::emit(
                &commands::doctor::run(&ctx, args).await?,
                global.json,
                quiet,
            )
        }
        Command::Logs(args) => {
            let ctx = Ctx::load(global, shared::names::DEFAULT_INDEX, false).await?;
            let report = commands::logs::run(&ctx, args, global.json).await?;
            report::emit(&report, false, quiet)
        }
        api => run_api(global, api).await,
    }
}

fn main() -> ExitCode {
    dotenv::load();
    let (args, stored) = match settings::with_stored(std::env::args_os().collect()) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let matches = Cli::command().get_matches_from(&args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if !stored.is_empty() && cli.global.quiet == 0 {
        eprintln!(
            "  using   {} from {}",
            stored.join(", "),
            settings::path(&cli.global.name).display()
        );
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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, matches)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
