//! Unit tests of `crate::hooks::dispatched_file`.

use super::*;
use crate::model::StateProperty;

#[tokio::test]
async fn the_writer_saves_the_latest_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = watch::channel(Dispatched::default());
    let task = tokio::spawn(write_task(dir.path().join("sub"), rx));
    let mut memory = Dispatched::default();
    memory.record(9, StateProperty::Operational, "degraded");
    tx.send_replace(memory.clone());
    drop(tx);
    task.await.unwrap();
    assert_eq!(load(&dir.path().join("sub")), memory);
}
