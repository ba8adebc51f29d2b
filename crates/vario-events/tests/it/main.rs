//! Integration tests of vario-events.
