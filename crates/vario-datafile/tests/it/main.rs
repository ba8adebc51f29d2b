//! Integration tests of vario-datafile.
