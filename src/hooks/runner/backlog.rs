//! Coalescing a key's backlog when it outgrows `HookBacklog` (the runner's "Backlog"): of
//! each event only the latest request stays, every request a caller waits for stays, and the
//! latest request of all always stays and runs last.

use std::collections::{HashMap, VecDeque};

use super::{Queued, Reply};
use crate::hooks::HookEvent;

/// Shrinks a backlog longer than `bound` (see the module's "Backlog"); returns how many
/// requests it dropped. Each dropped request's count goes to the request that supersedes it:
/// the latest of its event, or (dropped for the bound) the latest of all.
pub(super) fn coalesce(queue: &mut VecDeque<Queued>, bound: usize) -> usize {
    let before = queue.len();
    // Latest first: keep each event's latest request and every request a caller waits for.
    let mut kept: Vec<Queued> = Vec::with_capacity(queue.len());
    let mut latest_of: HashMap<HookEvent, usize> = HashMap::new();
    for queued in queue.drain(..).rev() {
        let waiting = matches!(queued.reply, Reply::Waiting(_));
        match latest_of.get(&queued.request.event) {
            Some(&at) if !waiting => {
                kept[at].coalesced = kept[at]
                    .coalesced
                    .saturating_add(queued.coalesced.saturating_add(1));
            }
            _ => {
                if !waiting {
                    latest_of.insert(queued.request.event.clone(), kept.len());
                }
                kept.push(queued);
            }
        }
    }
    // Still too many (more events than the bound): the oldest droppable ones go too, merged
    // into the latest request (kept[0]), which always stays.
    let mut excess = kept.len().saturating_sub(bound);
    let mut merged = 0u32;
    let mut index = kept.len();
    while excess > 0 && index > 1 {
        index -= 1;
        if !matches!(kept[index].reply, Reply::Waiting(_)) {
            let dropped = kept.remove(index);
            merged = merged.saturating_add(dropped.coalesced.saturating_add(1));
            excess -= 1;
        }
    }
    if let Some(latest) = kept.first_mut() {
        latest.coalesced = latest.coalesced.saturating_add(merged);
    }
    queue.extend(kept.into_iter().rev());
    before - queue.len()
}
