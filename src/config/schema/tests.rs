//! Unit tests of `crate::config::schema`.

use std::cell::Cell;
use std::hash::{Hash, Hasher};

use super::FirstSeen;

thread_local! {
    static COMPARISONS: Cell<u64> = const { Cell::new(0) };
}

/// A name that counts how often it is compared.
#[derive(Debug)]
struct Counted(u32);

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        COMPARISONS.with(|c| c.set(c.get() + 1));
        self.0 == other.0
    }
}

impl Eq for Counted {}

impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// 40,000 distinct names (what `Network.Links` parsed in 11.7 s when every name was
/// compared with all before it) cost a bounded number of comparisons per name, and the
/// repeat at the end is still found with its first index.
#[test]
fn repeats_are_found_with_a_bounded_number_of_comparisons_per_entry() {
    const N: u32 = 40_000;
    let items: Vec<Counted> = (0..N).chain([17]).map(Counted).collect();
    COMPARISONS.with(|c| c.set(0));
    let mut seen = FirstSeen::new();
    let mut repeat = None;
    for (index, item) in items.iter().enumerate() {
        if let Some(first) = seen.earlier(item, index) {
            repeat = Some((first, index));
        }
    }
    assert_eq!(repeat, Some((17, usize::try_from(N).unwrap())));
    let comparisons = COMPARISONS.with(Cell::get);
    assert!(
        comparisons <= 4 * u64::from(N),
        "{comparisons} comparisons for {N} entries: quadratic"
    );
}
