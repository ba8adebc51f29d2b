//! The named exit statuses of `vario`.

/// Something failed while running (I/O, a bug).
pub const FAILURE: u8 = 1;
/// The input was unusable: an invalid datafile, a bad argument.
pub const BAD_INPUT: u8 = 2;
