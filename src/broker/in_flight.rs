//! The state-hook requests handed to the runner and not finished yet. A state is recorded as
//! dispatched once its hooks completed, not when they were queued (a daemon stopped or
//! killed before then runs them again at its next start), and never for a link that went
//! away meanwhile: a request made before its link went away must not record its state for a
//! link that came back with the same index.

use std::collections::BTreeMap;

use futures_util::future::{BoxFuture, FutureExt as _};
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::oneshot;

use crate::hooks::BatchResult;
use crate::model::{IfIndex, StateProperty};

/// A state whose hooks ran: link, property, value, and [`InFlight::forgets`] when requested.
pub type Dispatch = (IfIndex, StateProperty, &'static str, u64);

/// The requests in flight, and the links forgotten while any was.
#[derive(Default)]
pub struct InFlight {
    /// Each resolves to the state to record when its batch ran to its end.
    pending: FuturesUnordered<BoxFuture<'static, Option<Dispatch>>>,
    /// How many links were forgotten so far, and when each in-flight link last was.
    forgets: u64,
    forgotten: BTreeMap<IfIndex, u64>,
}

impl InFlight {
    /// Follows the outcome of the hooks of `value` of `property` on link `index`.
    pub fn track(
        &mut self,
        index: IfIndex,
        property: StateProperty,
        value: &'static str,
        outcome: oneshot::Receiver<BatchResult>,
    ) {
        // A receiver error means the runner dropped the request (stopping, or coalesced into
        // a later one), which is not a run either.
        let asked = self.forgets;
        self.pending.push(Box::pin(async move {
            let batch = outcome.await.ok()?;
            batch.complete.then_some((index, property, value, asked))
        }));
    }

    /// Link `index` is gone: requests made before now must not record it.
    pub fn forget(&mut self, index: IfIndex) {
        if !self.pending.is_empty() {
            self.forgets += 1;
            self.forgotten.insert(index, self.forgets);
        }
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The next finished request (`None` inside: interrupted by a stop, or dropped); pending
    /// while nothing is in flight.
    pub async fn next(&mut self) -> Option<Dispatch> {
        if self.pending.is_empty() {
            return std::future::pending().await;
        }
        self.pending.next().await.flatten()
    }

    /// The finished requests that are ready now, without waiting.
    pub fn ready(&mut self) -> Vec<Option<Dispatch>> {
        let mut ready = Vec::new();
        while let Some(Some(done)) = self.pending.next().now_or_never() {
            ready.push(done);
        }
        ready
    }

    /// What a finished request records: its state, unless its link was forgotten since it
    /// was asked for.
    pub fn settle(
        &mut self,
        done: Option<Dispatch>,
    ) -> Option<(IfIndex, StateProperty, &'static str)> {
        let recorded = done.and_then(|(index, property, value, asked)| {
            let forgotten_since = self.forgotten.get(&index).is_some_and(|at| *at > asked);
            (!forgotten_since).then_some((index, property, value))
        });
        if self.pending.is_empty() {
            self.forgotten.clear();
        }
        recorded
    }
}
