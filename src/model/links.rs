//! The map of links by interface index that snapshots hold ([`Links`]): sorted like a
//! `BTreeMap`, and cheap to copy and to compare when few links changed.
//!
//! The broker takes a snapshot after every batch of events and compares it with the one it
//! published. With a plain `BTreeMap<IfIndex, Arc<LinkView>>` both were proportional to all
//! links, not to the links that changed: copying, dropping and comparing that map was about a
//! fifth of the daemon's CPU while 2,048 links appeared (docs/benchmarks.md, "CPU and
//! latency"). Here the links are kept in chunks of [`CHUNK`] consecutive indexes, each chunk
//! shared between copies until one of its links changes (copy-on-write): a copy costs one
//! pointer per chunk, and comparing two copies skips every chunk they still share. The kernel
//! hands out indexes in ascending order, so links created together share chunks.

use std::collections::btree_map::{self, BTreeMap};
use std::iter::Peekable;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::{IfIndex, LinkView};

/// Consecutive indexes per chunk. Small enough that copying a changed chunk is a few
/// pointers, large enough that a copy of the whole map is a few hundred for thousands of
/// links.
pub const CHUNK: IfIndex = 32;

type Chunk = BTreeMap<IfIndex, Arc<LinkView>>;

/// Links by interface index, in index order.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// Chunks by `index / CHUNK`; an empty chunk is removed.
    chunks: BTreeMap<IfIndex, Arc<Chunk>>,
    len: usize,
}

/// The iterator over a [`Links`], in index order. (A named type, not a `FlatMap` with a
/// function pointer: futures holding one across an `.await` would not be `Send`.)
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    chunks: btree_map::Values<'a, IfIndex, Arc<Chunk>>,
    inner: Option<btree_map::Iter<'a, IfIndex, Arc<LinkView>>>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a IfIndex, &'a Arc<LinkView>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.inner.as_mut().and_then(Iterator::next) {
                return Some(item);
            }
            self.inner = Some(self.chunks.next()?.iter());
        }
    }
}

/// The links present in two maps whose views differ ([`Links::changed_since`]), in index
/// order, as `(index, earlier view, this view)`. A named type for the same reason as [`Iter`].
#[derive(Debug, Clone)]
pub struct Changed<'a> {
    earlier: Peekable<btree_map::Iter<'a, IfIndex, Arc<Chunk>>>,
    now: btree_map::Iter<'a, IfIndex, Arc<Chunk>>,
    /// The chunk being compared link by link: the earlier one's links, this one's links.
    inner: Option<(Peekable<ChunkIter<'a>>, ChunkIter<'a>)>,
}

type ChunkIter<'a> = btree_map::Iter<'a, IfIndex, Arc<LinkView>>;

impl<'a> Iterator for Changed<'a> {
    type Item = (&'a IfIndex, &'a Arc<LinkView>, &'a Arc<LinkView>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((earlier, now)) = self.inner.as_mut() {
                for (index, view) in now.by_ref() {
                    while earlier.next_if(|(i, _)| *i < index).is_some() {}
                    if let Some((_, before)) = earlier.next_if(|(i, _)| *i == index) {
                        if !Arc::ptr_eq(before, view) {
                            return Some((index, before, view));
                        }
                    }
                }
                self.inner = None;
            }
            let (key, chunk) = self.now.next()?;
            while self.earlier.next_if(|(k, _)| *k < key).is_some() {}
            if let Some((_, before)) = self.earlier.next_if(|(k, _)| *k == key) {
                // A chunk both maps share holds no change: skipped without looking inside.
                if !Arc::ptr_eq(before, chunk) {
                    self.inner = Some((before.iter().peekable(), chunk.iter()));
                }
            }
        }
    }
}

impl Links {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of links.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no link.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The link with this index.
    pub fn get(&self, index: &IfIndex) -> Option<&Arc<LinkView>> {
        self.chunks.get(&(index / CHUNK))?.get(index)
    }

    /// Whether a link has this index.
    pub fn contains_key(&self, index: &IfIndex) -> bool {
        self.get(index).is_some()
    }

    /// The link with this index, to change; its chunk stops being shared with copies.
    pub fn get_mut(&mut self, index: &IfIndex) -> Option<&mut Arc<LinkView>> {
        let chunk = self.chunks.get_mut(&(index / CHUNK))?;
        if !chunk.contains_key(index) {
            // Not copied for a link that is not there.
            return None;
        }
        Arc::make_mut(chunk).get_mut(index)
    }

    /// Sets the link of `index`; returns the one it replaced.
    pub fn insert(&mut self, index: IfIndex, view: Arc<LinkView>) -> Option<Arc<LinkView>> {
        let chunk = self.chunks.entry(index / CHUNK).or_default();
        let old = Arc::make_mut(chunk).insert(index, view);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes the link of `index` and returns it.
    pub fn remove(&mut self, index: &IfIndex) -> Option<Arc<LinkView>> {
        let key = index / CHUNK;
        let chunk = self.chunks.get_mut(&key)?;
        if !chunk.contains_key(index) {
            return None;
        }
        let chunk = Arc::make_mut(chunk);
        let old = chunk.remove(index);
        if chunk.is_empty() {
            self.chunks.remove(&key);
        }
        self.len -= 1;
        old
    }

    /// Removes every link.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Every link with its index, in index order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            chunks: self.chunks.values(),
            inner: None,
        }
    }

    /// The links present both here and in `earlier` whose views are not the same `Arc`, in
    /// index order: what a snapshot changed in links that existed before it (links added or
    /// removed are not in it). Chunks shared with `earlier` are skipped whole, so the cost is
    /// per changed chunk, not per link: `dbus::publish` walked every link of every snapshot
    /// for this before (docs/benchmarks.md, "CPU and latency").
    pub fn changed_since<'a>(&'a self, earlier: &'a Links) -> Changed<'a> {
        Changed {
            earlier: earlier.chunks.iter().peekable(),
            now: self.chunks.iter(),
            inner: None,
        }
    }

    /// Every index, in order.
    pub fn keys(&self) -> impl Iterator<Item = &IfIndex> + '_ {
        self.iter().map(|(index, _)| index)
    }

    /// Every link, in index order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<LinkView>> + '_ {
        self.iter().map(|(_, view)| view)
    }
}

impl PartialEq for Links {
    /// Equal links, chunk by chunk: a chunk both share is equal without looking inside, and
    /// within a chunk a link both share is equal without comparing its view.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self.chunks.len() == other.chunks.len()
            && self
                .chunks
                .iter()
                .zip(&other.chunks)
                .all(|((i, a), (j, b))| {
                    i == j
                        && (Arc::ptr_eq(a, b)
                            || (a.len() == b.len()
                                && a.iter().zip(b.iter()).all(|((x, v), (y, w))| {
                                    x == y && (Arc::ptr_eq(v, w) || v == w)
                                })))
                })
    }
}

impl Eq for Links {}

impl std::ops::Index<&IfIndex> for Links {
    type Output = Arc<LinkView>;

    /// The link with this index; panics without one, like a `BTreeMap`'s (for tests: the
    /// daemon's code uses [`Links::get`]).
    fn index(&self, index: &IfIndex) -> &Arc<LinkView> {
        match self.get(index) {
            Some(view) => view,
            None => panic!("no link with index {index}"),
        }
    }
}

impl<'a> IntoIterator for &'a Links {
    type Item = (&'a IfIndex, &'a Arc<LinkView>);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<(IfIndex, Arc<LinkView>)> for Links {
    fn from_iter<T: IntoIterator<Item = (IfIndex, Arc<LinkView>)>>(iter: T) -> Self {
        let mut links = Links::new();
        for (index, view) in iter {
            links.insert(index, view);
        }
        links
    }
}

impl Serialize for Links {
    /// As the map of links by index it stands for.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests;
