//! The Events API's body parser never panics: any bytes → `parse_events` is `Ok` or a
//! 4xx `ApiError`; a batch that parses is checked against the default limits and turned
//! into log rows, which is `Ok` or a 4xx too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vario_server::Limits;
use vario_server::validate::{check_limits, parse_events};
use vario_store::PreparedBatch;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let batch = match parse_events(data) {
        Ok(batch) => batch,
        Err(error) => {
            assert!(error.code.status().is_client_error(), "{error:?}");
            return;
        }
    };
    if let Err(error) = check_limits(&batch, &limits) {
        assert!(error.code.status().is_client_error(), "{error:?}");
        return;
    }
    let _ = PreparedBatch::from_batch(&batch, 1_700_000_000_000);
});
