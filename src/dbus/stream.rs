//! The Manager's event stream: every signal the Manager sends gets the next sequence number
//! (its last argument), is kept in the [`History`] and is sent, in that order and one at a
//! time, so that numbers reach the bus in increasing order whichever task sends them (the
//! publisher, the hook results) and an event is in the history before any subscriber can
//! have missed its signal. The stream's identity (`StreamId`) tells one run of the daemon
//! from the next (docs/dbus-api.md, "The event stream").

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;
use zbus::message::Message;
use zbus::object_server::SignalEmitter;
use zbus::{OwnedObjectPath, Variant};

use super::history::{History, Since};
use super::names::MANAGER_INTERFACE;

/// One event of the stream: a Manager signal with its arguments, the sequence left out.
/// `LinkPropertiesChanged` borrows the change the link's `PropertiesChanged` was built from:
/// both messages are serialized from one map, and nothing is copied for the history, which
/// keeps the sent message's body.
#[derive(Debug, Clone)]
pub enum StreamEvent<'a> {
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
    LinkPropertiesChanged(i32, &'a HashMap<&'a str, Variant<'a>>),
}

impl StreamEvent<'_> {
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

    /// The signal numbered `sequence`, from `emitter`'s connection and path, serialized once:
    /// the same message is sent and kept (the argument types are those of the Manager's
    /// `#[zbus(signal)]` declarations in `manager.rs`; a test compares them).
    fn message(&self, emitter: &SignalEmitter<'_>, sequence: u64) -> zbus::Result<Message> {
        let mut builder = Message::signal(emitter.path(), MANAGER_INTERFACE, self.signal());
        if let Some(sender) = emitter.connection().unique_name() {
            builder = builder.sender(sender);
        }
        match self {
            Self::LinkAdded(index, name, path) | Self::LinkRemoved(index, name, path) => {
                builder.build(&(*index, name.as_str(), path, sequence))
            }
            Self::AddressAdded(index, address, len) | Self::AddressRemoved(index, address, len) => {
                builder.build(&(*index, address.as_str(), *len, sequence))
            }
            Self::RoutesModified(index) => builder.build(&(*index, sequence)),
            Self::LeaseChanged(index, name, lease) => {
                builder.build(&(*index, name.as_str(), lease, sequence))
            }
            Self::HooksCompleted(event, index, results, coalesced) => {
                builder.build(&(event.as_str(), *index, results, *coalesced, sequence))
            }
            Self::LinkPropertiesChanged(index, changed) => {
                builder.build(&(*index, *changed, sequence))
            }
        }
    }
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
    /// does not contain. A signal that cannot be built (only a file descriptor could fail,
    /// and no Manager signal carries one) uses up its number as a gap in the history.
    pub async fn emit(
        &self,
        emitter: &SignalEmitter<'_>,
        event: StreamEvent<'_>,
    ) -> zbus::Result<()> {
        let mut history = self.history.lock().await;
        let sequence = history.next_sequence();
        let message = match event.message(emitter, sequence) {
            Ok(message) => message,
            Err(err) => {
                history.gap();
                return Err(err);
            }
        };
        history.keep(sequence, now_us(), event.signal(), &message.body());
        emitter.connection().send(&message).await
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

    /// Each event's message has the argument types the Manager declares for its signal
    /// (`manager.rs`, checked against `docs/dbus-api.xml` by `contract.rs`), the number last.
    #[tokio::test]
    async fn each_event_is_built_with_the_declared_signature_and_its_number_last(
    ) -> zbus::Result<()> {
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
        for socket in [&a, &b] {
            socket
                .set_nonblocking(true)
                .map_err(|e| zbus::Error::InputOutput(Arc::new(e)))?;
        }
        let server = zbus::connection::Builder::unix_stream(a)
            .server(zbus::Guid::generate())
            .p2p()
            .build();
        let client = zbus::connection::Builder::unix_stream(b).p2p().build();
        let (conn, _client) = tokio::try_join!(server, client)?;
        let emitter = SignalEmitter::new(&conn, super::super::names::MANAGER_PATH)?;
        let path = OwnedObjectPath::try_from("/org/freedesktop/NetworkBroker1/link/_37")?;
        let changed = HashMap::from([("Name", Variant::from("eth0"))]);
        let cases: Vec<(StreamEvent<'_>, &str)> = vec![
            (
                StreamEvent::LinkAdded(7, "eth0".into(), path.clone()),
                "(isot)",
            ),
            (StreamEvent::LinkRemoved(7, "eth0".into(), path), "(isot)"),
            (
                StreamEvent::AddressAdded(7, "192.0.2.1".into(), 24),
                "(isyt)",
            ),
            (
                StreamEvent::AddressRemoved(7, "192.0.2.1".into(), 24),
                "(isyt)",
            ),
            (StreamEvent::RoutesModified(7), "(it)"),
            (
                StreamEvent::LeaseChanged(7, "eth0".into(), HashMap::new()),
                "(isa{ss}t)",
            ),
            (
                StreamEvent::HooksCompleted("up".into(), 7, Vec::new(), 0),
                "(sia(sus)ut)",
            ),
            (StreamEvent::LinkPropertiesChanged(7, &changed), "(ia{sv}t)"),
        ];
        for (event, signature) in cases {
            let message = event.message(&emitter, 42)?;
            assert_eq!(
                message.header().member().map(|m| m.as_str()),
                Some(event.signal())
            );
            assert_eq!(
                message.body().signature().to_string(),
                signature,
                "{}",
                event.signal()
            );
        }
        Ok(())
    }
}
