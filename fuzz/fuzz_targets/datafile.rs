//! Datafile loading never panics: any bytes → `ProjectConfig::from_json` is `Ok` or `Err`.
//! A config that loads is then used for every decision it defines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vario_core::{Attributes, User, decide_flag, experiment_variation};
use vario_datafile::ProjectConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = ProjectConfig::from_json(text) else { return };
    let attributes = Attributes::new();
    let user = User::new("fuzz", &attributes);
    for flag in 0..config.flags.len() {
        let _ = decide_flag(&config, flag, &user, None, &mut Vec::new());
    }
    for experiment in 0..config.experiments.len() {
        let _ = experiment_variation(&config, experiment, &user, None, &mut ());
    }
});
