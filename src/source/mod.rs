//! Event sources: each owns one external input and converts it to `Event`s. (being written)
