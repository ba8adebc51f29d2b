//! Integration tests of vario-core: the spec's bucketing vectors and property tests.

mod props;
mod vectors;
