//! Decode + mean-pool throughput of token-level endpoint answers, on one core.
//!
//! `cargo bench -p shared --bench decode` prints MB/s for a realistic answer: 4 inputs of
//! 148 tokens × 384 numbers, formatted like the HuggingFace toolkit (Python float repr, ", "
//! separators), ~4.9 MB. At 128 MB a Lambda function has ~7% of a core, so this number ÷ 14
//! is what the function sees.

use shared::embedding::decode_answer;
use std::hint::black_box;
use std::time::Instant;

/// A token-level answer `[N][1][T][d]` with toolkit-like float text (17 significant digits).
fn answer(inputs: usize, tokens: usize, dim: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut out = String::from("[");
    for i in 0..inputs {
        out.push_str(if i == 0 { "[[" } else { ", [[" });
        for t in 0..tokens {
            out.push_str(if t == 0 { "[" } else { ", [" });
            for d in 0..dim {
                if d > 0 {
                    out.push_str(", ");
                }
                // float32 values printed through Python floats: ~17-19 significant characters.
                out.push_str(&format!("{:?}", f64::from(next() as f32) * 0.3));
            }
            out.push(']');
        }
        out.push_str("]]");
    }
    out.push(']');
    out.into_bytes()
}

fn main() {
    let body = answer(4, 148, 384);
    let rounds = 40;
    // Warm-up, then the best of three timed runs.
    black_box(
        decode_answer(&body, 4, 384)
            .map(|d| d.vectors.len())
            .unwrap_or(0),
    );
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..rounds {
            let decoded = decode_answer(black_box(&body), 4, 384);
            black_box(decoded.map(|d| d.vectors.len()).unwrap_or(0));
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mb = (body.len() * rounds) as f64 / 1e6;
    println!(
        "decode+pool: answer {} bytes ({} bytes/token), {:.0} MB/s on one core ({:.1} ms per answer)",
        body.len(),
        body.len() / (4 * 148),
        mb / best,
        best * 1000.0 / rounds as f64
    );
}
