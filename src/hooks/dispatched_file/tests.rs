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

#[tokio::test]
async fn a_version_handed_out_while_the_writer_waits_is_written_when_the_broker_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = watch::channel(Dispatched::default());
    let task = tokio::spawn(write_task(dir.path().to_path_buf(), rx));
    let mut memory = Dispatched::default();
    memory.record(9, StateProperty::Operational, "degraded");
    tx.send_replace(memory.clone());
    // The first version is written at once (no write before it to space it from).
    while load(dir.path()) != memory {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The next ones fall within MIN_INTERVAL of that write: the writer waits, and the
    // broker stops meanwhile.
    memory.record(9, StateProperty::Operational, "routable");
    tx.send_replace(memory.clone());
    memory.forget(9);
    memory.record(10, StateProperty::Administrative, "configured");
    tx.send_replace(memory.clone());
    drop(tx);
    task.await.unwrap();
    assert_eq!(load(dir.path()), memory);
}
