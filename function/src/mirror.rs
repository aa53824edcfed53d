//! Blue/green (`deployer reindex --into NEW`): while the function's `MIRROR_INDEX` names the
//! index being filled, the mirror is made to hold exactly what the index holds, document by
//! document: the same keys and metadata, and either the same vectors (copied: no embedding) or,
//! when `MIRROR_ENDPOINT` names another model, that model's vectors of each chunk's stored
//! text (a model or dimension change).
//!
//! **Copying a document** ([`documents`]): read it from both indexes (every vector, strays
//! included, as [`store::read_many`] probes), write to the mirror what differs (other chunks
//! first, the head last: a document is listed there only once complete), delete what the index
//! does not hold (head last), then read the index again. If the document changed meanwhile (a
//! concurrent write), copy it again. A copy that settles has, at its last read, left the
//! mirror equal to the index. With another model, "differs" compares keys and metadata (the
//! vectors cannot be compared), and what differs is embedded from its `text` through the
//! mirror's endpoint before it is written; a vector without text cannot be, and is reported.
//! The deployer never fills one index with two models: it tags the index with the endpoint
//! it is filled from and refuses another.
//!
//! **Who copies.** Every write that addresses documents by id (`POST /ingest`,
//! `DELETE /documents/{id}`) copies them after writing the index and before answering,
//! whatever the write's outcome: a request that could not finish its copy fails (503), and the
//! same request sent again copies again (its ids are in the request). `deployer reindex
//! --into` copies everything else with `POST /documents/reindex {"copy": …}` ([`copy`]): every
//! id listed in the index, then every id listed in the mirror that the index lacks. Writes that
//! address documents by filter (delete by filter, reindex in place) are refused while a mirror
//! is set: their retry could not find what their first attempt changed.
//!
//! **Why the mirror ends equal.** Take the last copy to write an id's vectors to the mirror: its
//! last read of the index came after that write and found what it wrote. Any later change to
//! the index is made by a write whose own copy reads the index after the change, so it finds
//! the mirror different from what it reads and writes: it would be a later writer. So the
//! index did not change after that read, and the mirror holds it. This needs every write that
//! began before the mirror was set to have finished before the copy starts, which is why the
//! deployer waits out the function's timeout after setting it. With another model the
//! argument holds as well: the mirror's vector is the new model's embedding of the `text` in
//! its metadata, so vectors whose metadata is equal are the right ones.

use crate::backend::{Backend, NewVector, StoredVector};
use crate::config::Config;
use crate::domain::{Ctx, Mirror, Outcome};
use crate::embed::{AnswerShape, Deadline, Embedder};
use crate::error::DomainError;
use crate::store::{self, Stored};
use shared::api::{CopyPass, ReindexRequest, ReindexResponse};
use shared::document::{Key, parse_key};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Rounds of copying before a document that keeps changing is left to the next request.
const ROUNDS: usize = 4;
/// Keys per ListVectors page of a copy round.
const COPY_PAGE: u32 = 500;
/// Documents copied per batch of reads and writes.
const BATCH: usize = 50;

/// What copying did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Documents whose vectors were written to the mirror.
    pub written: usize,
    /// Documents deleted from the mirror (the index holds nothing of them).
    pub removed: usize,
    /// Vectors embedded with the mirror's model (another model's mirror only).
    pub embedded: usize,
    /// Vectors that could not be embedded with the mirror's model (no stored text).
    pub problems: Vec<String>,
}

/// The vectors of `stored` in the order a copy writes them: other chunks, the
/// original-layout vector, the head.
fn write_order(stored: &Stored) -> impl Iterator<Item = &StoredVector> {
    let others = stored.chunks.range(1..).map(|(_, v)| v);
    others
        .chain(stored.original.as_ref())
        .chain(stored.chunks.get(&0))
}

/// What makes `to` equal `from`: the vectors to write, then the keys to delete. With
/// `same_model` false, vectors are compared by metadata only (another model's vectors differ).
fn difference(from: &Stored, to: &Stored, same_model: bool) -> (Vec<NewVector>, Vec<String>) {
    let have: HashMap<&str, &StoredVector> = write_order(to).map(|v| (v.key.as_str(), v)).collect();
    let equal = |a: &StoredVector, b: &StoredVector| match same_model {
        true => a == b,
        false => a.metadata == b.metadata,
    };
    let puts: Vec<NewVector> = write_order(from)
        .filter(|v| !have.get(v.key.as_str()).is_some_and(|h| equal(v, h)))
        .map(|v| NewVector {
            key: v.key.clone(),
            data: v.data.clone(),
            metadata: v.metadata.clone(),
        })
        .collect();
    let want: HashSet<&str> = write_order(from).map(|v| v.key.as_str()).collect();
    let deletes = to
        .deletion_order()
        .into_iter()
        .filter(|k| !want.contains(k.as_str()))
        .collect();
    (puts, deletes)
}

/// Embeds `puts` again from their stored text with the mirror's model. A vector without text
/// is left out, with a problem. When the deadline stops part of it, what was embedded is kept
/// except the head (and original-layout vector) of a document left incomplete, so the mirror
/// lists a document only once complete; the answer names the documents left incomplete.
async fn embed_again<B: Backend>(
    backend: &B,
    (config, answers): (&Config, &AnswerShape),
    deadline: &Deadline,
    puts: &mut Vec<NewVector>,
    problems: &mut Vec<String>,
) -> Result<HashSet<String>, DomainError> {
    let text = |p: &NewVector| crate::reindex::text_of(&p.metadata).map(str::to_string);
    puts.retain(|p| {
        let has = text(p).is_some();
        if !has {
            problems.push(format!(
                "{}: no stored text to embed with the new model",
                p.key
            ));
        }
        has
    });
    let texts: Vec<String> = puts.iter().filter_map(text).collect();
    // The endpoint truncates what is longer than the model takes (an original-layout
    // document's whole text): count at most that for the batch sizes.
    let tokens: Vec<usize> = texts
        .iter()
        .map(|t| {
            let max = shared::tokenize::MODEL_MAX_TOKENS;
            shared::tokenize::count_tokens(t).map_or(max, |n| n.min(max))
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = Embedder::new(backend, config, answers, *deadline)
        .embed(&refs, &tokens)
        .await
        .into_result()?;
    let incomplete: HashSet<String> = puts
        .iter()
        .zip(&vectors)
        .filter(|(_, v)| v.is_none())
        .map(|(p, _)| parse_key(&p.key).id().to_string())
        .collect();
    let embedded = std::mem::take(puts).into_iter().zip(vectors);
    *puts = embedded
        .filter_map(|(p, v)| v.map(|data| NewVector { data, ..p }))
        .filter(|p| {
            let key = parse_key(&p.key);
            !(key.is_head() && incomplete.contains(key.id()))
        })
        .collect();
    Ok(incomplete)
}

/// Makes the mirror `to` hold exactly what `from` holds for each of `ids`, adding what it did
/// to `copied` (also when it fails); fails with [`DomainError::OutOfTime`] when a document kept
/// changing for [`ROUNDS`] copies, or the deadline stopped the embedding of what it writes
/// (what was written is kept).
pub async fn documents<B: Backend>(
    from: &B,
    to: Mirror<'_, B>,
    deadline: &Deadline,
    ids: &[&str],
    copied: &mut Copied,
) -> Result<(), DomainError> {
    let mut todo: Vec<&str> = ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for _ in 0..ROUNDS {
        if todo.is_empty() {
            return Ok(());
        }
        let first: Vec<(&str, usize)> = todo.iter().map(|id| (*id, 0)).collect();
        let (source, target) = futures::try_join!(
            store::read_many(from, deadline, &first),
            store::read_many(to.backend, deadline, &first)
        )?;
        let (mut puts, mut deletes) = (Vec::new(), Vec::new());
        let (mut written, mut removed) = (Vec::new(), 0);
        for ((id, s), t) in todo.iter().zip(&source).zip(&target) {
            let (p, d) = difference(s, t, to.model.is_none());
            if !p.is_empty() {
                written.push(*id);
            } else if !d.is_empty() && s.is_empty() {
                removed += 1;
            }
            puts.extend(p);
            deletes.extend(d);
        }
        let incomplete = match to.model {
            Some(model) => {
                let problems = &mut copied.problems;
                let left = embed_again(to.backend, model, deadline, &mut puts, problems).await?;
                copied.embedded += puts.len();
                left
            }
            None => HashSet::new(),
        };
        store::put_all(to.backend, deadline, puts).await?;
        store::delete_keys(to.backend, deadline, &deletes).await?;
        // A document is counted once its copy is complete (a later round finishes the rest).
        copied.written += written
            .iter()
            .filter(|id| !incomplete.contains(**id))
            .count();
        copied.removed += removed;
        if !incomplete.is_empty() {
            return Err(DomainError::OutOfTime);
        }
        let again: Vec<(&str, usize)> = todo
            .iter()
            .zip(&source)
            .map(|(id, s)| (*id, s.extent()))
            .collect();
        let now = store::read_many(from, deadline, &again).await?;
        todo = todo
            .iter()
            .zip(source.iter().zip(&now))
            .filter(|(_, (before, after))| before != after)
            .map(|(id, _)| *id)
            .collect();
    }
    if todo.is_empty() {
        Ok(())
    } else {
        Err(DomainError::OutOfTime)
    }
}

/// After a write: copies `ids` to the mirror, when one is set.
pub async fn after_write<B: Backend>(ctx: &Ctx<'_, B>, ids: &[&str]) -> Result<(), DomainError> {
    match ctx.mirror {
        Some(mirror) if !ids.is_empty() => {
            let mut copied = Copied::default();
            documents(ctx.backend, mirror, &ctx.deadline, ids, &mut copied).await?;
            match copied.problems.is_empty() {
                true => Ok(()),
                false => Err(DomainError::Internal(copied.problems.join("; "))),
            }
        }
        _ => Ok(()),
    }
}

/// Refuses a write that addresses documents by filter while a mirror is set.
pub fn refuse_while_copying<B>(ctx: &Ctx<'_, B>, what: &str) -> Result<(), DomainError> {
    match &ctx.config.mirror {
        Some(mirror) => Err(DomainError::Copying(format!(
            "{what} is refused while the index is being copied to `{mirror}` \
             (deployer reindex --into); run it again once that has finished"
        ))),
        None => Ok(()),
    }
}

/// `POST /documents/reindex {"copy": "index" | "mirror", segment, segments, next_token}`: one
/// round of the blue/green copy, on one ListVectors segment (the CLI runs segments in
/// parallel). `index`: the ids on one ListVectors page of the index are copied.
/// `mirror`: the ids on one page of the mirror whose listed keys the index lacks are copied
/// (which deletes them there). A round that ran out of time answers 202 with the same token.
pub async fn copy<B: Backend>(
    ctx: &Ctx<'_, B>,
    request: &ReindexRequest,
    pass: CopyPass,
) -> Result<Outcome<ReindexResponse>, DomainError> {
    let Some(mirror) = ctx.mirror else {
        return Err(DomainError::Invalid(
            "no MIRROR_INDEX is set: `deployer reindex --into NEW` sets it before copying".into(),
        ));
    };
    if !(1..=16).contains(&request.segments) || request.segment >= request.segments {
        return Err(DomainError::Invalid(
            "`segments` must be 1..=16 and `segment` below it".into(),
        ));
    }
    let (backend, deadline) = (ctx.backend, &ctx.deadline);
    let listed = match pass {
        CopyPass::Index => backend,
        CopyPass::Mirror => mirror.backend,
    };
    deadline.check()?;
    let page = deadline
        .bound(listed.list_vectors(crate::backend::ListRequest {
            next_token: request.next_token.clone(),
            max_results: COPY_PAGE,
            metadata: false,
            segment: Some((request.segment, request.segments)),
        }))
        .await?;
    let keys: Vec<String> = page.vectors.into_iter().map(|(k, _)| k).collect();
    let mut out = ReindexResponse::scanned(keys.len());
    let ids: BTreeSet<&str> = match pass {
        // A document is copied by the segment that lists its head (or its original-layout
        // vector), so segments never copy one document twice; chunks without a head belong
        // to a write in progress, which copies them itself.
        CopyPass::Index => keys
            .iter()
            .map(|k| parse_key(k))
            .filter(Key::is_head)
            .map(|k| k.id())
            .collect(),
        // Only ids with a listed key the index lacks: the index pass made the rest equal.
        CopyPass::Mirror => {
            let present: HashSet<String> = store::get_all(backend, deadline, keys.clone())
                .await?
                .into_iter()
                .map(|v| v.key)
                .collect();
            keys.iter()
                .filter(|k| !present.contains(*k))
                .map(|k| parse_key(k).id())
                .collect()
        }
    };
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut copied = Copied::default();
    let mut finished = true;
    for batch in ids.chunks(BATCH) {
        match documents(backend, mirror, deadline, batch, &mut copied).await {
            Ok(()) => {}
            Err(DomainError::OutOfTime) => {
                finished = false;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    out.copied = copied.written;
    out.removed = copied.removed;
    out.reembedded = copied.embedded;
    out.problems = copied.problems;
    if !finished {
        out.next_token = request.next_token.clone();
        return Ok(Outcome::Partial(out));
    }
    out.next_token = page.next_token;
    out.done = out.next_token.is_none();
    Ok(Outcome::new(out.done, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn v(key: &str, n: f32) -> StoredVector {
        StoredVector {
            key: key.into(),
            data: vec![n],
            metadata: json!({"chunk_count": 3}).as_object().cloned().unwrap(),
        }
    }

    fn doc(chunks: &[(usize, f32)], original: Option<f32>) -> Stored {
        Stored {
            original: original.map(|n| v("x", n)),
            chunks: chunks
                .iter()
                .map(|&(i, n)| (i, v(&format!("x#{i}"), n)))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_copy_writes_the_head_last_and_deletes_it_last() {
        let from = doc(&[(0, 1.0), (1, 1.0), (2, 2.0)], Some(5.0));
        let to = doc(&[(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)], None);
        let (puts, deletes) = difference(&from, &to, true);
        let keys: Vec<&str> = puts.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["x#2", "x", "x#0"], "what differs, head last");
        assert_eq!(deletes, ["x#4", "x#3"], "strays, from the last");
        // Another model's vectors are compared by their metadata.
        let (puts, _) = difference(&from, &to, false);
        let keys: Vec<&str> = puts.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["x", "x#0"], "x#2 has the same metadata");
        let (puts, deletes) = difference(&Stored::default(), &from, true);
        assert!(puts.is_empty());
        assert_eq!(
            deletes,
            ["x", "x#2", "x#1", "x#0"],
            "a removal ends with the head"
        );
        assert_eq!(difference(&from, &from, true), (Vec::new(), Vec::new()));
    }
}
