//! Wiring of sources, broker, effects and the bus. (being written)
