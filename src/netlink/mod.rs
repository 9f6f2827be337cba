//! Thin typed layer over rtnetlink: conversions between netlink messages and domain types. (being written)
