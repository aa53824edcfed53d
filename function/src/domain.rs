//! What every domain function ([`crate::ingest`], [`crate::search`], [`crate::documents`],
//! [`crate::reindex`]) shares: the [`Ctx`] it runs with, and the [`Outcome`] it returns. Domain
//! code never sees HTTP: it takes typed requests and returns an `Outcome` or a
//! [`crate::error::DomainError`]; the handler turns both into answers.

use crate::config::Config;
use crate::embed::{AnswerShape, Deadline, Embedder};

/// What one request's domain code runs with: the once-built state of
/// [`crate::handler::App`], borrowed, and the request's deadline.
pub struct Ctx<'a, B> {
    /// The AWS calls.
    pub backend: &'a B,
    /// The mirror of a blue/green copy (`MIRROR_INDEX`), while one is set.
    pub mirror: Option<Mirror<'a, B>>,
    /// The validated configuration.
    pub config: &'a Config,
    /// What this environment has learnt of the endpoint's answers.
    pub answers: &'a AnswerShape,
    /// When work must stop.
    pub deadline: Deadline,
}

impl<B> Clone for Ctx<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for Ctx<'_, B> {}

impl<'a, B> Ctx<'a, B> {
    /// An embedder for this request (one per request: its statistics are the request's).
    pub fn embedder(&self) -> Embedder<'a, B> {
        Embedder::new(self.backend, self.config, self.answers, self.deadline)
    }
}

/// The index a blue/green copy is filling ([`crate::mirror`]).
pub struct Mirror<'a, B> {
    /// The AWS calls on the mirror index (and on the mirror's endpoint, when it has one).
    pub backend: &'a B,
    /// The mirror's model (its configuration, with the mirror's endpoint and dimension, and
    /// what is learnt of its endpoint's answers) when its vectors are embedded again from
    /// their text; `None` when they are copied.
    pub model: Option<(&'a Config, &'a AnswerShape)>,
}

impl<B> Clone for Mirror<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for Mirror<'_, B> {}

/// What a request that may take more than one round did: all of it, or part of it (what was
/// done is kept, and the caller sends again to continue). `Done` answers 200, `Partial` 202.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T, P = T> {
    /// Everything asked for is done.
    Done(T),
    /// Part is done; send again (the answer says how).
    Partial(P),
}

impl<T> Outcome<T> {
    /// `Done(value)`: for a request that is never partial.
    pub fn done(value: T) -> Self {
        Self::Done(value)
    }

    /// `Done(value)` when `done`, else `Partial(value)`.
    pub fn new(done: bool, value: T) -> Self {
        if done {
            Self::Done(value)
        } else {
            Self::Partial(value)
        }
    }
}
