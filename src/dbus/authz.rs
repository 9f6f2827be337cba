//! Who may call the privileged methods. [`Authorizer`] is what the adapters ask;
//! [`Polkit`] asks polkitd for the caller (its unique bus name, never a pid and never us), and
//! [`Fixed`] is the test double. Reading needs no authorisation and never comes here.
//! [`caller_is_root_or_self`] lets root and the daemon's own user reload without polkit: the
//! unit's `ExecReload=` runs `network-brokerctl reload` as the daemon's user, which polkit
//! would ask for a password it does not have.

use std::future::Future;
use std::pin::Pin;

use tracing::{debug, warn};
use zbus::message::{Flags, Header};
use zbus::Connection;
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

use super::error::ApiError;

/// A boxed authorisation check, so that the adapters can hold any [`Authorizer`].
pub type Check<'a> = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 'a>>;

/// Decides whether the sender of a method call may perform a polkit action.
pub trait Authorizer: Send + Sync {
    /// `Ok` when the caller of `header` may perform `action`; otherwise `AccessDenied`,
    /// `InteractiveAuthorizationRequired` or `Failed` (polkit unreachable).
    /// `conn` is the connection the call arrived on (polkit is asked over it).
    fn check<'a>(
        &'a self,
        conn: &'a Connection,
        header: &'a Header<'_>,
        action: &'static str,
    ) -> Check<'a>;
}

/// Asks polkitd over the daemon's own bus connection. The proxy is built on the first check
/// and kept.
#[derive(Default)]
pub struct Polkit {
    authority: tokio::sync::OnceCell<AuthorityProxy<'static>>,
}

/// Whether the caller asked that polkit may prompt (the `ALLOW_INTERACTIVE_AUTH` header flag).
pub fn allows_interaction(header: &Header<'_>) -> bool {
    header
        .primary()
        .flags()
        .contains(Flags::ALLOW_INTERACTIVE_AUTH)
}

impl Authorizer for Polkit {
    fn check<'a>(
        &'a self,
        conn: &'a Connection,
        header: &'a Header<'_>,
        action: &'static str,
    ) -> Check<'a> {
        let subject = Subject::new_for_message_header(header);
        let flags = if allows_interaction(header) {
            CheckAuthorizationFlags::ALLOW_USER_INTERACTION
        } else {
            CheckAuthorizationFlags::empty()
        };
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        Box::pin(async move {
            let subject = subject.map_err(|err| {
                ApiError::AccessDenied(format!("cannot identify the caller: {err}"))
            })?;
            let authority = self
                .authority
                .get_or_try_init(|| AuthorityProxy::new(conn))
                .await
                .map_err(|err| ApiError::Failed(format!("cannot reach polkit: {err}")))?;
            let result = authority
                .check_authorization(&subject, action, &Default::default(), flags, "")
                .await
                .map_err(|err| {
                    warn!(action, error = %err, "polkit check of {action} failed: {err}");
                    ApiError::Failed(format!("cannot check authorization with polkit: {err}"))
                })?;
            debug!(
                action,
                caller = %sender,
                authorized = result.is_authorized,
                challenge = result.is_challenge,
                "polkit answered {action} for {sender}: authorized={}",
                result.is_authorized
            );
            verdict(result.is_authorized, result.is_challenge, flags, action)
        })
    }
}

/// polkit's answer as our reply.
fn verdict(
    authorized: bool,
    challenge: bool,
    flags: CheckAuthorizationFlags,
    action: &str,
) -> Result<(), ApiError> {
    if authorized {
        Ok(())
    } else if challenge && !flags.contains(CheckAuthorizationFlags::ALLOW_USER_INTERACTION) {
        Err(ApiError::InteractiveAuthorizationRequired(format!(
            "{action} needs authentication; call with interactive authorization allowed"
        )))
    } else {
        Err(ApiError::AccessDenied(format!(
            "not authorized for {action}"
        )))
    }
}

/// Whether a caller with `uid` is root or the daemon's own effective user `own`.
pub fn is_root_or_self(uid: u32, own: u32) -> bool {
    uid == 0 || uid == own
}

/// Whether the sender of `header` runs as root or as the daemon's own effective user. The uid
/// comes from the bus daemon (`GetConnectionUnixUser`), which took it from the kernel
/// (`SO_PEERCRED`) when the caller connected, so a caller cannot claim it. `false` whenever it
/// cannot be known (a peer-to-peer connection has no bus daemon to ask): polkit decides then.
pub async fn caller_is_root_or_self(conn: &Connection, header: &Header<'_>) -> bool {
    if conn.unique_name().is_none() {
        return false;
    }
    let Some(sender) = header.sender() else {
        return false;
    };
    let uid = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetConnectionUnixUser",
            &(sender.as_str(),),
        )
        .await
        .and_then(|reply| reply.body().deserialize::<u32>());
    match uid {
        Ok(uid) => {
            let own = rustix::process::geteuid().as_raw();
            let trusted = is_root_or_self(uid, own);
            debug!(caller = %sender, uid, trusted, "caller's uid from the bus: {uid}");
            trusted
        }
        Err(err) => {
            warn!(caller = %sender, error = %err, "cannot ask the bus for the uid of {sender}: {err}");
            false
        }
    }
}

/// The test double: allows everything or nothing, without polkit.
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub bool);

impl Authorizer for Fixed {
    fn check<'a>(
        &'a self,
        _conn: &'a Connection,
        _header: &'a Header<'_>,
        action: &'static str,
    ) -> Check<'a> {
        let allowed = self.0;
        Box::pin(async move {
            if allowed {
                Ok(())
            } else {
                Err(ApiError::AccessDenied(format!(
                    "not authorized for {action}"
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_the_daemons_own_user_are_trusted_nobody_else() {
        assert!(is_root_or_self(0, 989));
        assert!(is_root_or_self(989, 989));
        assert!(is_root_or_self(0, 0));
        assert!(!is_root_or_self(65534, 989));
        assert!(!is_root_or_self(1000, 0));
    }

    #[test]
    fn verdicts() {
        let none = CheckAuthorizationFlags::empty();
        let interactive = CheckAuthorizationFlags::ALLOW_USER_INTERACTION;
        assert_eq!(verdict(true, false, none, "a"), Ok(()));
        assert_eq!(
            verdict(false, true, none, "a").map_err(|e| e.error_name()),
            Err("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
        );
        // Interaction was allowed and still no: the user failed or dismissed the prompt.
        assert_eq!(
            verdict(false, true, interactive, "a").map_err(|e| e.error_name()),
            Err("org.freedesktop.DBus.Error.AccessDenied")
        );
        assert_eq!(
            verdict(false, false, none, "a").map_err(|e| e.error_name()),
            Err("org.freedesktop.DBus.Error.AccessDenied")
        );
    }
}
