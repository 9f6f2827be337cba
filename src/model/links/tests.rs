//! Unit tests of `crate::model::links`.

use std::collections::BTreeMap;

use super::*;
use crate::model::fixtures;

fn view(index: IfIndex) -> Arc<LinkView> {
    Arc::new(LinkView::new(fixtures::link(index, &format!("eth{index}"))))
}

#[test]
fn behaves_like_the_sorted_map_it_stands_for() {
    let mut links = Links::new();
    let mut model: BTreeMap<IfIndex, Arc<LinkView>> = BTreeMap::new();
    // Indexes across several chunks, out of order, with replacements and removals.
    let steps: [(IfIndex, bool); 12] = [
        (70, true),
        (1, true),
        (33, true),
        (31, true),
        (32, true),
        (1, true),
        (500, true),
        (33, false),
        (2, false),
        (500, false),
        (64, true),
        (70, false),
    ];
    for (index, insert) in steps {
        if insert {
            let fresh = view(index);
            assert_eq!(
                links.insert(index, fresh.clone()).is_some(),
                model.insert(index, fresh).is_some()
            );
        } else {
            assert_eq!(
                links.remove(&index).is_some(),
                model.remove(&index).is_some()
            );
        }
        assert_eq!(links.len(), model.len());
        let ours: Vec<IfIndex> = links.keys().copied().collect();
        let theirs: Vec<IfIndex> = model.keys().copied().collect();
        assert_eq!(ours, theirs);
    }
    assert_eq!(links.get(&31).map(|v| v.attrs.index), Some(31));
    assert!(!links.contains_key(&33));
    assert!(links.get_mut(&2).is_none());
    assert_eq!(
        serde_json::to_value(&links).unwrap(),
        serde_json::to_value(&model).unwrap()
    );
    links.clear();
    assert!(links.is_empty());
    assert_eq!(links.iter().count(), 0);
}

#[test]
fn a_copy_shares_every_chunk_but_the_changed_one() {
    let mut links: Links = (1..=100).map(|i| (i, view(i))).collect();
    let published = links.clone();
    assert_eq!(links, published);
    assert!(links
        .chunks
        .values()
        .zip(published.chunks.values())
        .all(|(a, b)| Arc::ptr_eq(a, b)));

    let changed = links.get_mut(&40).unwrap();
    Arc::make_mut(changed).attrs.mtu = Some(9000);
    assert_ne!(links, published);
    let shared: Vec<bool> = links
        .chunks
        .values()
        .zip(published.chunks.values())
        .map(|(a, b)| Arc::ptr_eq(a, b))
        .collect();
    // Indexes 1..=100 in chunks of 32: 0..32, 32..64 (holds 40), 64..96, 96..128.
    assert_eq!(shared, [true, false, true, true]);
    // The other links of the copied chunk are still the published views.
    assert!(Arc::ptr_eq(&links[&41], &published[&41]));
    assert_eq!(published[&40].attrs.mtu, view(40).attrs.mtu);

    // Equal content in a chunk that is no longer shared is still equal.
    let mut same = published.clone();
    same.insert(40, Arc::new(LinkView::clone(&published[&40])));
    assert_eq!(same, published);
}

#[test]
fn changed_since_names_the_replaced_views_of_links_in_both_maps() {
    let earlier: Links = (1..=100).map(|i| (i, view(i))).collect();
    let mut now = earlier.clone();
    assert_eq!(now.changed_since(&earlier).count(), 0);

    // A change in two chunks, a link added (a new chunk and an existing one) and one removed.
    Arc::make_mut(now.get_mut(&40).unwrap()).attrs.mtu = Some(9000);
    Arc::make_mut(now.get_mut(&97).unwrap()).attrs.mtu = Some(1280);
    now.insert(300, view(300));
    now.insert(101, view(101));
    now.remove(&5);
    // Replaced by an equal but distinct view: still named, as `Arc::ptr_eq` tells it apart.
    now.insert(41, Arc::new(LinkView::clone(&earlier[&41])));

    let changed: Vec<(IfIndex, Option<u32>, Option<u32>)> = now
        .changed_since(&earlier)
        .map(|(index, before, after)| (*index, before.attrs.mtu, after.attrs.mtu))
        .collect();
    let mtu = |i: IfIndex| earlier[&i].attrs.mtu;
    assert_eq!(
        changed,
        [
            (40, mtu(40), Some(9000)),
            (41, mtu(41), mtu(41)),
            (97, mtu(97), Some(1280)),
        ]
    );
    // The same pairs as a walk over every link finds.
    let walked: Vec<IfIndex> = now
        .iter()
        .filter(|(i, v)| earlier.get(i).is_some_and(|b| !Arc::ptr_eq(b, v)))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(walked, [40, 41, 97]);
    assert_eq!(Links::new().changed_since(&earlier).count(), 0);
    assert_eq!(earlier.changed_since(&Links::new()).count(), 0);
}
