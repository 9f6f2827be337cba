//! The source's two subscriptions (networkd's `PropertiesChanged` and the bus's
//! `NameOwnerChanged` for networkd's name), read back as one stream in the order the
//! connection received them. Owns the two [`MessageStream`]s; interprets nothing.
//!
//! Order matters across the two: after a restart the new networkd's first signals follow the
//! `NameOwnerChanged` that names it, and a stopping networkd's last signals precede the one
//! that says it left. Taken out of order, genuine signals would look like forgeries.
//!
//! zbus gives every received message a position ([`Message::recv_position`]) and one task
//! reads the socket and hands each message to every matching stream before it reads the next.
//! So when one stream has a message at position *n* and the other stream, polled *after* that,
//! has nothing, the other stream can never yield a message before *n*. [`Inbox::next`] polls
//! both, polls again the one that was empty once the other has a message, and returns the
//! earlier head. (zbus uses the same argument for its own ordered joins.)
//!
//! Both streams are polled continuously by the source, which matters beyond order: zbus
//! stops reading the socket when a stream's queue is full, and the connection is shared
//! with the daemon's bus service.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use zbus::{Message, MessageStream};

use super::Error;

/// A message from one of the two subscriptions.
#[derive(Debug)]
pub enum Incoming {
    /// A `PropertiesChanged` signal from under `/org/freedesktop/network1`.
    Properties(Message),
    /// A `NameOwnerChanged` signal about `org.freedesktop.network1`.
    Owner(Message),
}

/// Both subscriptions, merged in receive order.
pub struct Inbox {
    properties: Pin<Box<MessageStream>>,
    owners: Pin<Box<MessageStream>>,
    properties_head: Option<Message>,
    owners_head: Option<Message>,
}

impl Inbox {
    /// Merges the two streams.
    pub fn new(properties: MessageStream, owners: MessageStream) -> Self {
        Self {
            properties: Box::pin(properties),
            owners: Box::pin(owners),
            properties_head: None,
            owners_head: None,
        }
    }

    /// The next message in receive order. An error means the connection is gone.
    ///
    /// Cancel-safe: a message taken from a stream is kept in `self` until it is returned, so a
    /// `select!` that drops this future loses nothing.
    pub async fn next(&mut self) -> Result<Incoming, Error> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, Error>> {
        // The second pass re-polls an empty stream after the other one produced its head (see
        // the module documentation); the first pass registers both wakers.
        for _ in 0..2 {
            if let Err(err) = fill(self.properties.as_mut(), &mut self.properties_head, cx) {
                return Poll::Ready(Err(err));
            }
            if let Err(err) = fill(self.owners.as_mut(), &mut self.owners_head, cx) {
                return Poll::Ready(Err(err));
            }
            if self.properties_head.is_none() && self.owners_head.is_none() {
                return Poll::Pending;
            }
        }
        let owners_first = match (&self.properties_head, &self.owners_head) {
            (Some(p), Some(o)) => o.recv_position() < p.recv_position(),
            (None, _) => true,
            (Some(_), None) => false,
        };
        let next = if owners_first {
            self.owners_head.take().map(Incoming::Owner)
        } else {
            self.properties_head.take().map(Incoming::Properties)
        };
        match next {
            Some(incoming) => Poll::Ready(Ok(incoming)),
            // Unreachable: at least one head is set after the loop. Waking keeps the merge
            // live rather than stalled if that ever changes.
            None => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

/// Takes the stream's next message into `head` if there is one ready and `head` is empty.
fn fill(
    stream: Pin<&mut MessageStream>,
    head: &mut Option<Message>,
    cx: &mut Context<'_>,
) -> Result<(), Error> {
    if head.is_some() {
        return Ok(());
    }
    match stream.poll_next(cx) {
        Poll::Ready(Some(Ok(msg))) => {
            *head = Some(msg);
            Ok(())
        }
        Poll::Ready(Some(Err(err))) => Err(Error::Receive(err)),
        Poll::Ready(None) => Err(Error::ConnectionClosed),
        Poll::Pending => Ok(()),
    }
}
