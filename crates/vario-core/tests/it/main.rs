//! Integration tests of vario-core.
