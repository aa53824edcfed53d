//! Keeping answers under the Lambda payload limit: texts are cut to one common length, the
//! longest that fits, and the answer says so.

use crate::backend::cut_text;
use serde::Serialize;

/// The answer's size as the Lambda response carries it (a JSON string inside JSON).
pub fn carried_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_string(value)
        .ok()
        .and_then(|body| serde_json::to_string(&body).ok())
        .map_or(usize::MAX, |s| s.len())
}

/// Cuts the texts `texts` selects in `value` to the longest common length that makes it fit
/// in `budget` bytes (0 when none does); returns whether any text was cut.
pub fn cut_texts_to_fit<T, F>(value: &mut T, budget: usize, texts: F) -> bool
where
    T: Serialize + Clone,
    F: Fn(&mut T) -> Vec<&mut String>,
{
    if carried_len(value) <= budget {
        return false;
    }
    let longest = texts(value).iter().map(|t| t.len()).max().unwrap_or(0);
    let fits_with = |cap: usize, value: &T| {
        let mut trial = value.clone();
        for t in texts(&mut trial) {
            cut_text(t, cap);
        }
        carried_len(&trial) <= budget
    };
    let (mut lo, mut hi) = (0, longest);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits_with(mid, value) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut cut = false;
    for t in texts(value) {
        cut |= cut_text(t, lo);
    }
    cut
}
