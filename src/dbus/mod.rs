//! Everything D-Bus: our own service and the proxies we call. (being written)
