//! Read-only properties that say so: `Properties.Set` of one of our properties fails with
//! `org.freedesktop.DBus.Error.PropertyReadOnly`, not zbus's `UnknownProperty`.
//!
//! zbus's `#[interface]` answers `Set` of a property without a setter as if the property did
//! not exist. A setter that refuses would make the introspection say `readwrite`, so instead
//! every served object is wrapped in [`ReadOnly`], which passes everything through to the
//! generated code except `Set` of a property the object has.

use std::collections::HashMap;
use std::fmt::Write;

use zbus::message::{Header, Message};
use zbus::names::{InterfaceName, MemberName};
use zbus::object_server::{DispatchResult, Interface, SignalEmitter};
use zbus::{BoxDBusError, Connection, ObjectServer, OwnedVariant, Variant};

/// An interface whose properties are all read-only.
pub struct ReadOnly<I>(pub I);

impl<I> std::ops::Deref for ReadOnly<I> {
    type Target = I;
    fn deref(&self) -> &I {
        &self.0
    }
}

/// The error `Set` of an existing property gets.
fn read_only(property: &str) -> BoxDBusError {
    Box::new(zbus::fdo::Error::PropertyReadOnly(format!(
        "property {property} is read-only"
    )))
}

// The trait is declared with async_trait; zbus re-exports the macro its own generated code
// uses, so the wrapper's signatures are exactly the trait's.
#[zbus::export::async_trait::async_trait]
impl<I: Interface> Interface for ReadOnly<I> {
    fn name() -> InterfaceName<'static> {
        I::name()
    }

    fn spawn_tasks_for_methods(&self) -> bool {
        self.0.spawn_tasks_for_methods()
    }

    async fn get(
        &self,
        property_name: &str,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<Result<OwnedVariant, BoxDBusError>> {
        self.0
            .get(property_name, server, connection, header, emitter)
            .await
    }

    async fn get_all(
        &self,
        server: &ObjectServer,
        connection: &Connection,
        header: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> zbus::fdo::Result<HashMap<String, OwnedVariant>> {
        self.0.get_all(server, connection, header, emitter).await
    }

    fn set<'call>(
        &'call self,
        property_name: &'call str,
        _value: &'call Variant<'_>,
        server: &'call ObjectServer,
        connection: &'call Connection,
        header: Option<&'call Header<'_>>,
        emitter: &'call SignalEmitter<'_>,
    ) -> DispatchResult<'call> {
        DispatchResult::Async(Box::pin(async move {
            // A property the object has is refused as read-only; any other name keeps the
            // answer zbus gives for it.
            match self
                .0
                .get(property_name, server, connection, header, emitter)
                .await
            {
                Some(_) => Err(read_only(property_name)),
                None => Err(Box::new(zbus::fdo::Error::UnknownProperty(format!(
                    "Unknown property '{property_name}'"
                ))) as BoxDBusError),
            }
        }))
    }

    async fn set_mut(
        &mut self,
        property_name: &str,
        _value: &Variant<'_>,
        _server: &ObjectServer,
        _connection: &Connection,
        _header: Option<&Header<'_>>,
        _emitter: &SignalEmitter<'_>,
    ) -> Option<Result<(), BoxDBusError>> {
        // Never reached: `set` always answers itself.
        Some(Err(read_only(property_name)))
    }

    fn call<'call>(
        &'call self,
        server: &'call ObjectServer,
        connection: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        self.0.call(server, connection, msg, name)
    }

    fn call_mut<'call>(
        &'call mut self,
        server: &'call ObjectServer,
        connection: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        self.0.call_mut(server, connection, msg, name)
    }

    fn introspect_to_writer(&self, writer: &mut dyn Write, level: usize) {
        self.0.introspect_to_writer(writer, level);
    }
}
