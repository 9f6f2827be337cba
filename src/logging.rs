//! Logging set-up with tracing. (being written)
