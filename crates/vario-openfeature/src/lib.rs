//! OpenFeature over Vario's SDK, declared once for every OpenFeature interface Vario
//! has (the OFREP endpoints of `vario serve`, and providers).
//!
//! An Optimizely flag answers more than one OpenFeature flag:
//! - `checkout` (the flag key) is a **boolean**: whether the flag is on for the user, as
//!   `decide` says;
//! - `checkout.button_color` (flag key, a dot, variable key) is that **variable's value**
//!   for the user, typed as the datafile declares it (`json` variables are objects).
//!
//! The variant is the decided variation's key; the reason says which kind of rule
//! decided ([`reason`]). Evaluating goes through `decide`, so impressions are sent
//! exactly as the official SDKs send them.

mod context;
mod evaluate;
mod reason;

pub use context::{EvaluationContext, TARGETING_KEY};
pub use evaluate::{ErrorCode, Evaluation, EvaluationError, evaluate, evaluate_all};
pub use reason::{Reason, reason};
