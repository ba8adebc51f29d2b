//! Integration tests of vario-datafile: validity (edge-case checklist items 73–76) and
//! property tests that loading never panics.

mod leniency;
mod props;
mod validity;
