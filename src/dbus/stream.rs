//! The Manager's event stream: every signal the Manager sends gets the next sequence number
//! (its last argument), is kept in the [`History`] and is sent, in that order and one at a
//! time, so that numbers reach the bus in increasing order whichever task sends them (the
//! publisher, the hook results) and an event is in the history before any subscriber can
//! have missed its signal. The stream's identity (`StreamId`) tells one run of the daemon
//! from the next (docs/dbus-api.md, "The event stream").

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;
use zbus::object_server::SignalEmitter;
use zbus::{OwnedObjectPath, OwnedVariant, Variant};

use super::history::{History, Since};
use super::manager::Manager;

/// One event of the stream: a Manager signal with its arguments, the sequence left out.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// `LinkAdded (i ifindex, s name, o path, t sequence)`.
    LinkAdded(i32, String, OwnedObjectPath),
    /// `LinkRemoved (i ifindex, s name, o path, t sequence)`.
    LinkRemoved(i32, String, OwnedObjectPath),
    /// `AddressAdded (i ifindex, s address, y prefix_len, t sequence)`.
    AddressAdded(i32, String, u8),
    /// `AddressRemoved (i ifindex, s address, y prefix_len, t sequence)`.
    AddressRemoved(i32, String, u8),
    /// `RoutesModified (i ifindex, t sequence)`.
    RoutesModified(i32),
    /// `LeaseChanged (i ifindex, s name, a{ss} lease, t sequence)`.
    LeaseChanged(i32, String, HashMap<String, String>),
    /// `HooksCompleted (s event, i ifindex, a(sus) results, u coalesced, t sequence)`.
    HooksCompleted(String, i32, Vec<(String, u32, String)>, u32),
    /// `LinkPropertiesChanged (i ifindex, a{sv} changed, t sequence)`: what the link object's
    /// `PropertiesChanged` carried.
    LinkPropertiesChanged(i32, HashMap<String, OwnedVariant>),
}

impl StreamEvent {
    /// The Manager signal's name.
    pub fn signal(&self) -> &'static str {
        match self {
            Self::LinkAdded(..) => "LinkAdded",
            Self::LinkRemoved(..) => "LinkRemoved",
            Self::AddressAdded(..) => "AddressAdded",
            Self::AddressRemoved(..) => "AddressRemoved",
            Self::RoutesModified(..) => "RoutesModified",
            Self::LeaseChanged(..) => "LeaseChanged",
            Self::HooksCompleted(..) => "HooksCompleted",
            Self::LinkPropertiesChanged(..) => "LinkPropertiesChanged",
        }
    }

    /// The arguments as the history keeps them, in the signal's order.
    fn args(&self) -> zbus::Result<Vec<OwnedVariant>> {
        Ok(match self {
            Self::LinkAdded(index, name, path) | Self::LinkRemoved(index, name, path) => vec![
                OwnedVariant::from(*index),
                owned(Variant::from(name.as_str()))?,
                owned(Variant::from(path.as_ref()))?,
            ],
            Self::AddressAdded(index, address, len) | Self::AddressRemoved(index, address, len) => {
                vec![
                    OwnedVariant::from(*index),
                    owned(Variant::from(address.as_str()))?,
                    OwnedVariant::from(*len),
                ]
            }
            Self::RoutesModified(index) => vec![OwnedVariant::from(*index)],
            Self::LeaseChanged(index, name, lease) => vec![
                OwnedVariant::from(*index),
                owned(Variant::from(name.as_str()))?,
                OwnedVariant::from(lease.clone()),
            ],
            Self::HooksCompleted(event, index, results, coalesced) => vec![
                owned(Variant::from(event.as_str()))?,
                OwnedVariant::from(*index),
                owned(Variant::from(results.clone()))?,
                OwnedVariant::from(*coalesced),
            ],
            Self::LinkPropertiesChanged(index, changed) => vec![
                OwnedVariant::from(*index),
                OwnedVariant::from(changed.clone()),
            ],
        })
    }

    /// Sends the signal with its number.
    async fn send(&self, emitter: &SignalEmitter<'_>, sequence: u64) -> zbus::Result<()> {
        match self {
            Self::LinkAdded(index, name, path) => {
                Manager::link_added(emitter, *index, name, path.as_ref(), sequence).await
            }
            Self::LinkRemoved(index, name, path) => {
                Manager::link_removed(emitter, *index, name, path.as_ref(), sequence).await
            }
            Self::AddressAdded(index, address, len) => {
                Manager::address_added(emitter, *index, address, *len, sequence).await
            }
            Self::AddressRemoved(index, address, len) => {
                Manager::address_removed(emitter, *index, address, *len, sequence).await
            }
            Self::RoutesModified(index) => {
                Manager::routes_modified(emitter, *index, sequence).await
            }
            Self::LeaseChanged(index, name, lease) => {
                Manager::lease_changed(emitter, *index, name, lease.clone(), sequence).await
            }
            Self::HooksCompleted(event, index, results, coalesced) => {
                Manager::hooks_completed(emitter, event, *index, results, *coalesced, sequence)
                    .await
            }
            Self::LinkPropertiesChanged(index, changed) => {
                Manager::link_properties_changed(emitter, *index, changed.clone(), sequence).await
            }
        }
    }
}

/// A copy of a value for the history; only a file descriptor could fail to be copied, and no
/// Manager signal carries one.
fn owned(value: Variant<'_>) -> zbus::Result<OwnedVariant> {
    value.try_to_owned()
}

/// The stream, shared by everything that sends Manager signals and by the Manager's methods.
#[derive(Debug, Clone)]
pub struct EventStream {
    history: Arc<Mutex<History>>,
    id: Arc<str>,
}

impl EventStream {
    /// A new stream (a new `StreamId`) that keeps the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            history: Arc::new(Mutex::new(History::new(capacity))),
            id: new_stream_id().into(),
        }
    }

    /// `StreamId`: different for every run of the daemon.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `EventSequence`: the last number handed out, 0 before the first event.
    pub async fn last(&self) -> u64 {
        self.history.lock().await.last()
    }

    /// What the history holds after `after` (`EventsSince`).
    pub async fn since(&self, after: u64) -> Since {
        self.history.lock().await.since(after)
    }

    /// Applies a reloaded `EventHistory`.
    pub async fn set_capacity(&self, capacity: usize) {
        self.history.lock().await.set_capacity(capacity);
    }

    /// Numbers `event`, keeps it and sends it. The history's lock is held while the signal is
    /// sent: a second sender waits, so the bus sees the numbers in increasing order, and an
    /// `EventsSince` reply (sent after the lock is released) never overtakes a signal it
    /// does not contain.
    pub async fn emit(&self, emitter: &SignalEmitter<'_>, event: StreamEvent) -> zbus::Result<()> {
        let args = event.args()?;
        let mut history = self.history.lock().await;
        let sequence = history.record(now_us(), event.signal(), &args);
        event.send(emitter, sequence).await
    }
}

/// Microseconds since the Unix epoch by the system clock (0 if it is set before 1970).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A random identifier for this run: the kernel's random UUID, or (should `/proc` be
/// unreadable) the start time and process ID, which no other run shares either.
fn new_stream_id() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/random/uuid") {
        Ok(uuid) if !uuid.trim().is_empty() => uuid.trim().to_string(),
        _ => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{nanos:x}-{:x}", std::process::id())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_has_its_own_identity() {
        let (a, b) = (EventStream::new(1), EventStream::new(1));
        assert_ne!(a.id(), b.id());
        assert!(!a.id().is_empty());
    }

    #[test]
    fn the_history_keeps_each_signal_with_its_arguments_in_order() -> zbus::Result<()> {
        let event = StreamEvent::AddressAdded(3, "192.0.2.1".into(), 24);
        assert_eq!(event.signal(), "AddressAdded");
        assert_eq!(
            event.args()?,
            [
                OwnedVariant::from(3i32),
                owned(Variant::from("192.0.2.1"))?,
                OwnedVariant::from(24u8)
            ]
        );
        Ok(())
    }
}
