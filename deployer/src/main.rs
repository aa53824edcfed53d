//! `deployer`: deploys, converges and removes the alex ingest/search stack on AWS, and talks
//! to the deployed API. Data goes to stdout, progress and logs to stderr; exit codes are
//! 0 success, 1 failure, 2 usage (and `plan --detailed-exitcode`: 2 when there are changes).

mod api_client;
mod aws_error;
mod cli;
mod commands;
mod context;
mod endpoint;
mod model;
mod ownership;
mod package;
mod progress;
mod resources;
mod settings;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use context::Ctx;
use std::process::ExitCode;

/// Reads `.env` in the working directory like the original scripts: sets variables that are
/// not already set (`SAGEMAKER_ENDPOINT`, `DEFAULT_AWS_REGION`, `ALEX_API_ENDPOINT`, `ALEX_API_KEY`).
fn load_dotenv() {
    const KEYS: [&str; 4] = [
        "SAGEMAKER_ENDPOINT",
        "DEFAULT_AWS_REGION",
        "ALEX_API_ENDPOINT",
        "ALEX_API_KEY",
    ];
    let Ok(text) = std::fs::read_to_string(".env") else {
        return;
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_start_matches("export ").trim();
        let v = v.trim().trim_matches('"').trim_matches('\'');
        if KEYS.contains(&k) && std::env::var_os(k).is_none() {
            // SAFETY: single-threaded; runs before the runtime and any other thread start.
            unsafe { std::env::set_var(k, v) };
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", serde_json::to_string_pretty(value)?) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Endpoint and key from flags/env/`.env`, else from the deployed stack.
async fn api_target(
    global: &cli::GlobalArgs,
    endpoint: &Option<String>,
    key: &Option<String>,
) -> anyhow::Result<(String, String)> {
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

async fn run(cli: Cli, matches: clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Up(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name, false).await?;
            ctx.progress.step(&format!("target  {}", ctx.target()));
            let report = commands::up::run(&ctx, &args.stack).await?;
            settings::save(&ctx.names.stack, &matches)?;
            if global.json {
                print_json(&report)?;
            } else {
                ctx.progress.step(&format!(
                    "stack `{}` is up in {} ({} change(s)); `deployer output` prints the endpoint and key",
                    report.stack,
                    report.region,
                    report.changes.len()
                ));
            }
        }
        Command::Plan(args) => {
            let ctx = Ctx::load(global, &args.stack.index_name, true).await?;
            let report = commands::plan::run(&ctx, args).await?;
            if global.json {
                print_json(&report)?;
            } else {
                print!("{report}");
            }
            if args.detailed_exitcode && !report.changes.is_empty() {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Down(args) => {
            let ctx = Ctx::load(global, &args.index_name, false).await?;
            ctx.progress.step(&format!("target  {}", ctx.target()));
            let report = commands::down::run(&ctx, args).await?;
            if global.json {
                print_json(&report)?;
            } else {
                ctx.progress.step(&format!(
                    "stack `{}` is down ({} deletion(s))",
                    ctx.names.stack,
                    report.changes.len()
                ));
            }
        }
        Command::Output(args) => {
            let ctx = Ctx::load(global, &args.index_name, false).await?;
            commands::output::run(&ctx, args, global.json).await?;
        }
        Command::Ingest(args) => {
            let (endpoint, key) = api_target(global, &args.api_endpoint, &args.api_key).await?;
            let progress = progress::Progress::new(global.quiet > 0);
            let report = commands::ingest::run(args, &endpoint, &key, &progress).await?;
            if global.json {
                print_json(&report)?;
            }
            progress.step(&format!(
                "ingested {} document(s) ({} chunks) in {:.1} s{}",
                report.documents,
                report.chunks,
                report.seconds,
                if report.failures.is_empty() {
                    String::new()
                } else {
                    format!("; {} failure(s)", report.failures.len())
                }
            ));
            for f in &report.failures {
                eprintln!("error: {f}");
            }
            if !report.failures.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Package(args) => {
            let progress = progress::Progress::new(global.quiet > 0);
            progress.step(&format!(
                "build   function (release, {})",
                args.arch.as_str()
            ));
            let artifact =
                package::package(&package::build(args.arch, global.quiet > 0)?, args.arch)?;
            std::fs::write(&args.out, &artifact.zip)
                .map_err(|e| anyhow::anyhow!("could not write `{}`: {e}", args.out.display()))?;
            let summary = serde_json::json!({
                "path": args.out.display().to_string(),
                "bytes": artifact.zip.len(),
                "code_sha256": artifact.sha256,
            });
            if global.json {
                print_json(&summary)?;
            } else {
                println!(
                    "{} {} bytes sha256 {}",
                    args.out.display(),
                    artifact.zip.len(),
                    artifact.sha256
                );
            }
        }
        Command::Search(args) => {
            let (endpoint, key) = api_target(global, &args.api_endpoint, &args.api_key).await?;
            let response = commands::search::run(args, &endpoint, &key).await?;
            if global.json {
                print_json(&response)?;
            } else {
                print!("{}", commands::search::render(&response));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    load_dotenv();
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
