//! `reindex`: brings every stored vector to the current embedding through the deployed API
//! (`POST /documents/reindex`): chunks are re-embedded from their stored text, and documents
//! of the original stack (one token-0 vector each) are re-ingested as chunks under the same
//! id. The index is listed in `--segments` parallel ListVectors segments; each round runs
//! inside the function's time budget, and a run stopped anywhere is finished by running it
//! again (what is done carries the embedding marker and is skipped).
//!
//! `reindex --into NEW` ([`into`]) is the blue/green copy instead: see
//! [`crate::stack::blue_green`] for its steps.

use crate::api_client::{ApiClient, Credentials, MAX_CUT_ROUNDS, NoAnswer, REQUEST_TIMEOUT};
use crate::cli::ReindexArgs;
use crate::printer::Printer;
use crate::report::Report;
use futures::future::try_join_all;
use serde::Serialize;
use shared::api::{CopyPass, ReindexRequest};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What `reindex` did.
#[derive(Debug, Default, Serialize)]
pub struct ReindexReport {
    /// Vectors looked at.
    pub scanned: usize,
    /// Chunks re-embedded.
    pub reembedded: usize,
    /// Original documents re-ingested as chunks.
    pub migrated: usize,
    /// Vectors that could not be brought up to date.
    pub problems: Vec<String>,
    /// Seconds.
    pub seconds: f64,
}

impl std::fmt::Display for ReindexReport {
    /// Nothing on stdout: the summary goes to stderr.
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl Report for ReindexReport {
    fn summary(&self) -> Option<String> {
        Some(format!(
            "reindexed: {} vector(s) scanned, {} re-embedded, {} original document(s) migrated in {:.1} s",
            self.scanned, self.reembedded, self.migrated, self.seconds
        ))
    }

    fn errors(&self) -> Vec<String> {
        self.problems.clone()
    }

    fn status(&self) -> std::process::ExitCode {
        if self.problems.is_empty() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    }
}

/// Counters the segments share, for the progress line.
#[derive(Default)]
struct Totals {
    scanned: AtomicUsize,
    reembedded: AtomicUsize,
    migrated: AtomicUsize,
    copied: AtomicUsize,
    removed: AtomicUsize,
}

/// Runs one segment to its end; its problems.
async fn segment(
    client: &ApiClient,
    endpoint: &str,
    (index, count): (u32, u32),
    copy: Option<CopyPass>,
    totals: &Totals,
    printer: &Printer,
    spinner: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<Vec<String>> {
    let mut request = ReindexRequest {
        segment: index,
        segments: count,
        next_token: None,
        copy,
    };
    let mut problems = Vec::new();
    let mut cut = 0;
    loop {
        let round = match client.reindex(endpoint, &request).await {
            Ok(round) => round,
            // A cut or lost round: what it stored is kept; send it again.
            Err(e) if e.is::<NoAnswer>() && cut < MAX_CUT_ROUNDS => {
                cut += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        cut = 0;
        totals.scanned.fetch_add(round.scanned, Ordering::Relaxed);
        totals
            .reembedded
            .fetch_add(round.reembedded, Ordering::Relaxed);
        totals.migrated.fetch_add(round.migrated, Ordering::Relaxed);
        totals.copied.fetch_add(round.copied, Ordering::Relaxed);
        totals.removed.fetch_add(round.removed, Ordering::Relaxed);
        let load = |n: &AtomicUsize| n.load(Ordering::Relaxed);
        let line = match copy {
            None => format!(
                "reindex: {} scanned, {} re-embedded, {} migrated so far",
                load(&totals.scanned),
                load(&totals.reembedded),
                load(&totals.migrated)
            ),
            Some(_) => format!(
                "copy: {} vector(s) scanned, {} document(s) copied, {} removed so far",
                load(&totals.scanned),
                load(&totals.copied),
                load(&totals.removed)
            ),
        };
        match spinner {
            Some(s) => s.set_message(line),
            None => printer.step(&format!("{line} (segment {index})")),
        }
        problems.extend(round.problems);
        if round.done {
            return Ok(problems);
        }
        request.next_token = round.next_token;
    }
}

/// `reindex`.
pub async fn run(
    args: &ReindexArgs,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
) -> anyhow::Result<ReindexReport> {
    let started = Instant::now();
    crate::api_client::check_url(endpoint)?;
    let client = ApiClient::new(credentials, REQUEST_TIMEOUT, printer)?;
    let totals = Totals::default();
    let count = args.segments;
    let spinner = printer.spinner("reindex: listing the index");
    let runs = (0..count).map(|i| {
        segment(
            &client,
            endpoint,
            (i, count),
            None,
            &totals,
            printer,
            spinner.as_ref(),
        )
    });
    let problems: Vec<String> = try_join_all(runs).await?.into_iter().flatten().collect();
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    Ok(ReindexReport {
        scanned: totals.scanned.into_inner(),
        reembedded: totals.reembedded.into_inner(),
        migrated: totals.migrated.into_inner(),
        problems,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What `reindex --into` did.
#[derive(Debug, Serialize)]
pub struct IntoReport {
    /// The index the function served.
    pub from: String,
    /// The index it serves now.
    pub into: String,
    /// Vectors listed by the copy.
    pub scanned: usize,
    /// Documents the copy wrote to the new index (the rest were there already, copied by
    /// writes while it ran, or by an earlier run).
    pub copied: usize,
    /// Documents removed from the new index (not in the old one).
    pub removed: usize,
    /// The endpoint of the model the new index holds (another one than before when
    /// `--embedding-endpoint` changed the model).
    pub endpoint: String,
    /// The new index's dimension.
    pub dimension: u32,
    /// Vectors embedded again with the new model (0 when vectors were copied).
    pub reembedded: usize,
    /// Whether the old index was deleted (`--drop-old`).
    pub dropped_old: bool,
    /// Seconds.
    pub seconds: f64,
}

impl std::fmt::Display for IntoReport {
    /// Nothing on stdout: the summary goes to stderr.
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl Report for IntoReport {
    fn summary(&self) -> Option<String> {
        let kept = match self.dropped_old {
            true => format!("`{}` was deleted", self.from),
            false => format!(
                "`{}` is kept with its vectors (`--drop-old` deletes it)",
                self.from
            ),
        };
        let embedded = match self.reembedded {
            0 => String::new(),
            n => format!(
                ", {n} vector(s) embedded again with {} ({} dims)",
                self.endpoint, self.dimension
            ),
        };
        Some(format!(
            "switched the function from index `{}` to `{}`: {} vector(s) scanned, {} document(s) copied, {} removed{embedded} in {:.1} s; {kept}",
            self.from, self.into, self.scanned, self.copied, self.removed, self.seconds
        ))
    }
}

/// `reindex --into NEW`: the blue/green copy ([`crate::stack::blue_green`]).
pub async fn into(
    global: &crate::cli::GlobalArgs,
    args: &ReindexArgs,
    new: &str,
    endpoint: &str,
    credentials: &Credentials,
    printer: &Printer,
) -> anyhow::Result<IntoReport> {
    use crate::context::Ctx;
    use crate::stack::blue_green::{self, Model};
    let started = Instant::now();
    crate::api_client::check_url(endpoint)?;
    let probe = Ctx::load(global, new).await?;
    let deployed = blue_green::deployed(&probe).await?;
    let mut report = IntoReport {
        from: deployed.index.clone(),
        into: new.to_string(),
        scanned: 0,
        copied: 0,
        removed: 0,
        endpoint: deployed.model.endpoint.clone(),
        dimension: deployed.model.dimension,
        reembedded: 0,
        dropped_old: false,
        seconds: 0.0,
    };
    let changes_model = |e: &String| *e != deployed.model.endpoint;
    if deployed.index == new {
        // Switched already (by an earlier run): only what follows the switch is left.
        if let Some(e) = args
            .embedding_endpoint
            .as_ref()
            .filter(|e| changes_model(e))
        {
            anyhow::bail!(
                "the function already serves index `{new}` with endpoint {}; it cannot be filled with {e}'s vectors in place\nhint: choose a new name for `--into`",
                deployed.model.endpoint
            );
        }
        if args.drop_old {
            anyhow::bail!(
                "the function already serves index `{new}`; the index it served before is not known to this run, so nothing is deleted\nhint: delete it by name: `aws s3vectors delete-index --vector-bucket-name {} --index-name OLD`",
                probe.names.bucket
            );
        }
        printer.step(&format!("the function already serves index `{new}`"));
        blue_green::switch(&probe, &deployed.model).await?;
        // The same command run again: its model (if it named one) is the one now served.
        let model = args.embedding_endpoint.as_ref().map(|_| &deployed.model);
        remember(&global.name, new, model)?;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let into = match &args.embedding_endpoint {
        Some(e) if changes_model(e) => {
            let profile = crate::endpoint::observe(&probe, e)
                .await
                .map_or(crate::model::EndpointProfile::Serverless, |o| o.profile);
            let dimension = crate::stack::new_model(&probe, e, args.dimension, profile).await?;
            printer.step(&format!(
                "model change: every chunk is embedded again from its text through {e} ({dimension} dims)"
            ));
            Model {
                endpoint: e.clone(),
                dimension,
            }
        }
        _ => match args.dimension {
            Some(d) if d != deployed.model.dimension => anyhow::bail!(
                "--dimension {d} with the same endpoint {}: its vectors are {}-dimensional\nhint: a new dimension needs the new model's endpoint in `--embedding-endpoint`",
                deployed.model.endpoint,
                deployed.model.dimension
            ),
            _ => deployed.model.clone(),
        },
    };
    report.endpoint = into.endpoint.clone();
    report.dimension = into.dimension;
    let mut old = Ctx::load(global, &deployed.index).await?;
    old.mirror_index = Some(new.to_string());
    let changed = into.changes(&deployed.model);
    old.mirror_endpoint = changed.then(|| into.endpoint.clone());
    blue_green::start(&old, &probe, &deployed.model, &into).await?;
    printer.step(&format!(
        "waiting {} s (the function's timeout) for writes that began before the copy to finish",
        deployed.timeout
    ));
    tokio::time::sleep(std::time::Duration::from_secs(deployed.timeout)).await;

    let client = ApiClient::new(credentials, REQUEST_TIMEOUT, printer)?;
    let totals = Totals::default();
    let spinner = printer.spinner("copy: listing the index");
    for pass in [CopyPass::Index, CopyPass::Mirror] {
        // The index pass finishes before the mirror pass starts: what the mirror holds that the
        // index lacks is judged against a complete copy.
        let count = args.segments;
        let runs = (0..count).map(|i| {
            segment(
                &client,
                endpoint,
                (i, count),
                Some(pass),
                &totals,
                printer,
                spinner.as_ref(),
            )
        });
        let problems: Vec<String> = try_join_all(runs).await?.into_iter().flatten().collect();
        if !problems.is_empty() {
            anyhow::bail!(
                "the copy to index `{new}` left problems: {}; the function still serves `{}`\nhint: run the same command again",
                problems.join("; "),
                deployed.index
            );
        }
    }
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    report.scanned = totals.scanned.into_inner();
    report.copied = totals.copied.into_inner();
    report.removed = totals.removed.into_inner();
    report.reembedded = totals.reembedded.into_inner();

    blue_green::switch(&probe, &into).await?;
    remember(&global.name, new, changed.then_some(&into))?;
    if args.drop_old {
        blue_green::drop_index(&old).await?;
        report.dropped_old = true;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// After the switch: later `up`s keep the new index, and the new model when it changed
/// (`{stack}.toml`).
fn remember(
    stack: &str,
    index: &str,
    model: Option<&crate::stack::blue_green::Model>,
) -> anyhow::Result<()> {
    crate::settings::set_key(stack, "index_name", index)?;
    if let Some(model) = model {
        crate::settings::set_key(stack, "embedding_endpoint", &model.endpoint)?;
        crate::settings::set_key(stack, "dimension", &model.dimension.to_string())?;
    }
    Ok(())
}
