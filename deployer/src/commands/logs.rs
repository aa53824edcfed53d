//! `logs [--since 10m] [--follow] [--filter PATTERN]`: the function's log events, oldest
//! first, from its CloudWatch Logs group (FilterLogEvents). `--follow` keeps polling every
//! 2 s until interrupted. Events are printed as they arrive (JSON lines with `--json`).

use crate::aws_error::{describe, is_not_found};
use crate::cli::LogsArgs;
use crate::context::Ctx;
use crate::report::Report;
use anyhow::{anyhow, bail};
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often `--follow` polls.
const POLL: Duration = Duration::from_secs(2);

/// `10m`, `2h`, `30s`, `1d` → a duration.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 10m, 2h or 1d"))?;
    let secs = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// One log event.
#[derive(Debug, Serialize)]
pub struct Event {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The log stream (one per execution environment).
    pub stream: String,
    /// The line.
    pub message: String,
}

/// What `logs` printed.
#[derive(Debug, Serialize)]
pub struct LogsReport {
    /// Events printed.
    pub events: usize,
}

impl std::fmt::Display for LogsReport {
    /// Nothing more: the events were printed as they came.
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl Report for LogsReport {
    fn has_json(&self) -> bool {
        false
    }
    fn summary(&self) -> Option<String> {
        Some(format!("{} event(s)", self.events))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-11-27T18:30:02.123Z` for a timestamp in milliseconds.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

/// Every event from `start` (ms) on, oldest first.
async fn fetch(
    ctx: &Ctx,
    start: i64,
    pattern: Option<&str>,
) -> anyhow::Result<Vec<(String, Event)>> {
    let group = &ctx.names.log_group;
    let mut pages = ctx
        .logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start)
        .set_filter_pattern(pattern.map(str::to_string))
        .into_paginator()
        .send();
    let mut events = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| match is_not_found(&e) {
            true => anyhow!(
                "log group {group} does not exist\nhint: deploy the stack first (`deployer up`)"
            ),
            false => anyhow!("failed to read log group {group}: {}", describe(&e)),
        })?;
        for e in page.events() {
            let event = Event {
                timestamp: e.timestamp().unwrap_or(0),
                stream: e.log_stream_name().unwrap_or("").to_string(),
                message: e.message().unwrap_or("").trim_end().to_string(),
            };
            events.push((e.event_id().unwrap_or("").to_string(), event));
        }
    }
    events.sort_by_key(|(_, e)| e.timestamp);
    Ok(events)
}

/// `logs`.
pub async fn run(ctx: &Ctx, args: &LogsArgs) -> anyhow::Result<LogsReport> {
    let json = ctx.printer.is_json();
    let since = parse_since(&args.since).map_err(|e| anyhow!(e))?;
    let mut start = now_ms() - since.as_millis() as i64;
    let mut seen: HashSet<String> = HashSet::new();
    let mut printed = 0;
    loop {
        for (id, event) in fetch(ctx, start, args.filter.as_deref()).await? {
            if !seen.insert(id) {
                continue;
            }
            start = start.max(event.timestamp);
            let line = if json {
                serde_json::to_string(&event)?
            } else {
                let message = crate::api_client::escape_controls(&event.message);
                format!("{} {message}", rfc3339(event.timestamp))
            };
            if !ctx.printer.stream_line(&line)? {
                return Ok(LogsReport { events: printed });
            }
            printed += 1;
        }
        if !args.follow {
            return Ok(LogsReport { events: printed });
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => return Ok(LogsReport { events: printed }),
        }
        if seen.len() > 100_000 {
            bail!("too many events to follow at once; narrow with `--filter`");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_aws_cli() {
        assert_eq!(parse_since("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_since("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_since("15"), Ok(Duration::from_secs(900)));
        assert!(parse_since("ten minutes").is_err());
        assert!(parse_since("5w").is_err());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
