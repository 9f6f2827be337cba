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
