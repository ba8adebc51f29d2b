//! Vario's decision engine.
#![deny(missing_docs)]

mod attributes;

pub use attributes::{AttributeValue, Attributes};
