//! The single owner of the daemon's state. (being written)
