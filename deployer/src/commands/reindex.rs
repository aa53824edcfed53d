//! `reindex`: brings every stored vector to the current embedding through the deployed API
//! (`POST /documents/reindex`): chunks are re-embedded from their stored text, and documents
//! of the original stack (one token-0 vector each) are re-ingested as chunks under the same
//! id. The index is listed in `--segments` parallel ListVectors segments; each round runs
//! inside the function's time budget, and a run stopped anywhere is finished by running it
//! again (what is done carries the embedding marker and is skipped).

use crate::api_client::{ApiClient, Credentials, MAX_CUT_ROUNDS, NoAnswer, REQUEST_TIMEOUT};
use crate::cli::ReindexArgs;
use crate::printer::Printer;
use crate::report::Report;
use futures::future::try_join_all;
use serde::Serialize;
use shared::api::ReindexRequest;
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
}

/// Runs one segment to its end; its problems.
async fn segment(
    client: &ApiClient,
    endpoint: &str,
    (index, count): (u32, u32),
    totals: &Totals,
    printer: &Printer,
    spinner: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<Vec<String>> {
    let mut request = ReindexRequest {
        segment: index,
        segments: count,
        next_token: None,
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
        let line = format!(
            "reindex: {} scanned, {} re-embedded, {} migrated so far",
            totals.scanned.load(Ordering::Relaxed),
            totals.reembedded.load(Ordering::Relaxed),
            totals.migrated.load(Ordering::Relaxed)
        );
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
