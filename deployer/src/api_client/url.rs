//! Where the key may go and what may be printed: https or loopback URLs only, capped
//! `Retry-After`, control characters escaped.

use super::MAX_RETRY_AFTER;
use anyhow::{anyhow, bail};
use std::net::IpAddr;
use std::time::Duration;

/// Whether `url` names a loopback host (the local AWS).
pub fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// Whether `host` (as in a URL) is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks that the key may be sent to `url`: https, or http to a loopback host.
pub fn check_url(url: &str) -> anyhow::Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("`{url}` is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or("");
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback_host(host) => Ok(parsed),
        scheme => bail!(
            "refusing to send the API key to `{url}` over {scheme}: only https (or http to 127.0.0.1/localhost) is allowed\nhint: use the https endpoint that `deployer output` prints"
        ),
    }
}

/// The wait a `Retry-After` value asks for (seconds), capped; `None` when absent or not a
/// number of seconds.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs = value?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// `text` with control characters (terminal escapes, bells, carriage returns) shown escaped,
/// so a stored document cannot drive the terminal that prints it.
pub fn escape_controls(text: &str) -> String {
    // A tab moves the cursor and nothing else: kept (Lambda's REPORT lines are tab-separated).
    let escaped = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(escaped) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if escaped(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_key_goes_only_over_https_or_to_loopback() {
        for ok in [
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/ingest",
            "http://127.0.0.1:4599/restapis/a/prod/_user_request_/ingest",
            "http://127.8.0.1/x",
            "http://localhost:1/x",
            "http://[::1]:8080/x",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://abc.execute-api.us-east-1.amazonaws.com/prod/ingest",
            "http://10.0.0.1/x",
            "http://127.0.0.1.evil.example/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_is_capped() {
        assert_eq!(retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some("86400")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain · text"), "plain · text");
        assert_eq!(escape_controls("a\tb"), "a\tb");
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\rc\u{7}"),
            "a\\u{1b}[2Jb\\rc\\u{7}"
        );
    }
}
