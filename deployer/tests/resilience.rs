//! Crash and concurrency safety: a failure injected at each mutating call k = 1..N of a fresh
//! `up`, or its answer lost after it took effect, and two `up`s started together — each time
//! the next `up` ends with exactly one of each resource and a working API.

mod common;

use common::*;
use serde_json::{Value, json};

/// Mutating calls a fresh `up` makes.
fn fresh_up_mutations(env: &Env) -> usize {
    env.clear_requests();
    env.ok(&["up"]);
    let n = env.requests()["mutating"].as_u64().unwrap() as usize;
    env.reset();
    n
}

fn assert_converged(env: &Env) {
    let sdk = env.sdk();
    assert_eq!(block_on(inventory(&sdk)), ONE_OF_EACH);
    env.ok(&["output", "--write-env", ".env"]);
    let vars = dotenv(env);
    let (status, body) = env.post(
        &vars["ALEX_API_ENDPOINT"],
        Some(&vars["ALEX_API_KEY"]),
        &json!({"text": "converged"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
}

/// Local AWS instances a fault test spreads its calls over: an `up` mostly waits on the
/// emulated clock (Lambda's pending state, IAM's propagation), not on the CPU. Measured on two
/// cores, the three tests of this file: 499 s with one instance each, 263 s with two, 191 s
/// with three.
const WORKERS: usize = 3;

fn fault_at_each_call(kind: &str, count: u32, first_must_fail: bool) {
    let n = fresh_up_mutations(&quick_env());
    assert!(n >= 15, "a fresh up makes {n} mutating calls");
    std::thread::scope(|s| {
        for worker in 0..WORKERS {
            s.spawn(move || {
                let env = quick_env();
                for k in (1..=n).filter(|k| k % WORKERS == worker) {
                    fault_at(&env, k, kind, count, first_must_fail);
                }
            });
        }
    });
}

/// A local AWS for the fault tests. Lenient on purpose: no per-call latency. These tests are
/// about where a fault lands, not about time; they run `up` twice for each of ~25 mutating
/// calls (~2,500 calls), and the default 10 ms a call would add minutes to CI. The
/// concurrent-`up` test keeps it.
fn quick_env() -> Env {
    let env = Env::start();
    env.aws.control(
        "POST",
        "config",
        Some(&json!({"latency_ms": 0}).to_string()),
    );
    env
}

/// A fault of `kind` at mutating call `k` of a fresh `up`; the next `up` converges.
fn fault_at(env: &Env, k: usize, kind: &str, count: u32, first_must_fail: bool) {
    env.reset();
    env.aws.control(
        "POST",
        "faults",
        Some(&json!({"after": k, "kind": kind, "count": count}).to_string()),
    );
    let first = env.run(&["up"]);
    env.aws.control("DELETE", "faults", None);
    if first_must_fail {
        assert!(
            !first.status.success(),
            "a {kind} storm at mutating call {k} did not fail the up"
        );
    }
    let second = env.run(&["up"]);
    assert!(
        second.status.success(),
        "up after a {kind} fault at mutating call {k} (first up: {:?}) failed:\n{}",
        first.status.code(),
        String::from_utf8_lossy(&second.stderr)
    );
    assert_converged(env);
}

#[test]
fn a_failure_at_any_mutating_call_is_finished_by_the_next_up() {
    // Enough consecutive 500s to exhaust the SDK's retries: the call really fails.
    fault_at_each_call("500", 8, true);
}

#[test]
fn a_lost_answer_at_any_mutating_call_leaves_no_duplicates() {
    // The call takes effect, the connection drops, the SDK retries it as a second call.
    fault_at_each_call("drop", 1, false);
}

#[test]
fn two_concurrent_fresh_ups_end_with_one_of_each() {
    let env = Env::start();
    let a = env
        .command(&["up"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .command(&["up"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for (name, out) in [("first", &a), ("second", &b)] {
        assert!(
            out.status.success(),
            "{name} up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_converged(&env);
    env.clear_requests();
    env.ok(&["up"]);
    assert_eq!(env.requests()["mutating"], Value::from(0));
}
