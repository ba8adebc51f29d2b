//! Integration tests of vario-sdk.
