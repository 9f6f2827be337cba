//! Small wrappers over system calls (user ids, file ownership). (being written)
