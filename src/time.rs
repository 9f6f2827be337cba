//! Waiting for a deadline that may not exist. The broker, the hook runner and the routing
//! actor each sleep in a `select!` until their next timer, and have none when idle; the
//! future for "no deadline" must then never finish rather than fire at once.

/// Sleeps until `deadline`, or forever when there is none. Takes a `std` or a `tokio`
/// instant: the broker keeps `std` instants, the hook runner and routing actor `tokio` ones
/// (paused-time tests move only the latter, and each caller keeps the clock it has).
pub async fn sleep_until_opt<T: Into<tokio::time::Instant>>(deadline: Option<T>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::sleep_until_opt;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_reached() {
        let at = tokio::time::Instant::now() + Duration::from_secs(5);
        sleep_until_opt(Some(at)).await;
        assert!(tokio::time::Instant::now() >= at);
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_never_fires() {
        let never = sleep_until_opt(None::<tokio::time::Instant>);
        let waited = tokio::time::timeout(Duration::from_secs(3600), never).await;
        assert!(waited.is_err(), "a missing deadline must never be reached");
    }
}
