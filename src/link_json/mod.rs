//! The one JSON document of a link (docs/json.md, "The link document"): what hooks read in
//! `JSON` and on standard input, what `Link.Describe()` returns, each element of
//! `Manager.Describe()`'s `Links`, and what `network-brokerctl --json` prints for a link. It
//! sits on the ground floor because hooks/ and dbus/ (and the client) all build it; none of
//! them names a key of its own.
//!
//! - [`document`]: the link document itself;
//! - [`address`], [`route`]: its `Address` and `Routes` elements;
//! - [`names`]: the kernel's numbers (flags, scopes, protocols, route types, tables) as the
//!   names ip(8) prints.

pub mod address;
pub mod document;
pub mod names;
pub mod route;

pub use address::AddressDocument;
pub use document::{states_by_name, LinkDocument};
pub use route::RouteDocument;

#[cfg(test)]
mod tests;
