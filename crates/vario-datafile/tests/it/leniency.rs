//! Datafiles the official SDKs load although a field does not have the format's type:
//! they load here too, every other part still serves, and each odd field is reported once.

use serde_json::{Value, json};
use vario_datafile::{ProjectConfig, VariableType};

use crate::validity::full;

fn with_odd_variables() -> Value {
    let mut doc = full();
    doc["featureFlags"][0]["variables"] = json!([
        {"id": "v1", "key": "n", "type": "integer", "defaultValue": "1"},
        {"id": "v2", "key": "json_object", "type": "json", "defaultValue": {"a": 1}},
        {"id": "v3", "key": "unknown_type", "type": "float", "defaultValue": "1.5"},
        {"id": "v4", "key": "numeric_type", "type": 7, "defaultValue": "x"},
        {"id": "v5", "key": "string_object", "type": "string", "defaultValue": {"a": 1}}
    ]);
    doc["experiments"][0]["variations"][0]["variables"] = json!([{"id": "v1", "value": 7}]);
    doc
}

#[test]
fn a_variable_default_of_another_json_type_loads_and_is_reported_once_by_path() {
    let config = ProjectConfig::from_value(&with_odd_variables()).expect("the official SDKs load it");
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    let paths: Vec<&str> = config.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "experiments[0].variations[0].variables[0].value",
            "featureFlags[0].variables[1].defaultValue",
            "featureFlags[0].variables[2].type",
            "featureFlags[0].variables[3].type",
            "featureFlags[0].variables[4].defaultValue",
        ],
        "{warnings:#?}"
    );
    assert!(warnings[1].contains("expected a string, found an object"), "{}", warnings[1]);
}

#[test]
fn odd_variables_answer_what_the_official_sdks_answer() {
    let config = ProjectConfig::from_value(&with_odd_variables()).unwrap();
    let flag = config.flag_by_key("flag").unwrap();
    let default = |key: &str| {
        let i = config.flags[flag].variable_by_key(key).unwrap();
        config.variable_value(flag, None, false, i).clone()
    };
    assert_eq!(default("n"), json!(1));
    assert_eq!(default("json_object"), Value::Null, "json.loads of an object fails: null");
    assert_eq!(default("unknown_type"), json!("1.5"), "an unknown type answers the raw string");
    assert_eq!(default("numeric_type"), json!("x"));
    assert_eq!(default("string_object"), json!({"a": 1}), "a string variable answers the value as it is");
    let i = config.flags[flag].variable_by_key("numeric_type").unwrap();
    assert_eq!(config.flags[flag].variables[i].kind, VariableType::Other);
}

#[test]
fn a_datafile_with_an_unusable_field_still_serves_all_its_other_flags() {
    let mut doc = with_odd_variables();
    doc["featureFlags"].as_array_mut().unwrap().push(json!({
        "id": "f2", "key": "other_flag", "experimentIds": [], "rolloutId": "r1",
        "variables": [{"id": "w1", "key": "label", "type": "string", "defaultValue": "hi"}]
    }));
    let config = ProjectConfig::from_value(&doc).unwrap();
    let other = config.flag_by_key("other_flag").expect("the other flag is served");
    assert_eq!(config.flags[other].rollout, config.flags[config.flag_by_key("flag").unwrap()].rollout);
    assert_eq!(config.variable_value(other, None, false, 0), &json!("hi"));
    assert!(config.experiment_by_key("exp").is_some() && config.experiment_by_key("grouped").is_some());
}

#[test]
fn a_clean_datafile_has_no_warnings() {
    assert!(ProjectConfig::from_value(&full()).unwrap().warnings.is_empty());
}

#[test]
fn missing_type_or_default_value_is_still_invalid() {
    for field in ["type", "defaultValue"] {
        let mut doc = full();
        doc["featureFlags"][0]["variables"][0].as_object_mut().unwrap().remove(field);
        let err = ProjectConfig::from_value(&doc).unwrap_err().to_string();
        assert_eq!(err, format!("featureFlags[0].variables[0].{field}: missing required field"));
    }
}

#[test]
fn null_top_level_sections_are_invalid_as_in_the_reference_sdk() {
    for section in ["typedAudiences", "featureFlags", "rollouts", "integrations", "holdouts"] {
        let mut doc = full();
        doc[section] = Value::Null;
        assert!(ProjectConfig::from_value(&doc).is_err(), "{section}: null");
        doc.as_object_mut().unwrap().remove(section);
        if section == "rollouts" {
            // Its flag names a rollout, which an absent section cannot hold.
            doc["featureFlags"][0]["rolloutId"] = json!("");
        }
        assert!(ProjectConfig::from_value(&doc).is_ok(), "{section}: absent");
    }
}

#[test]
fn integer_end_of_range_beyond_64_bits_loads() {
    let mut doc = full();
    doc["experiments"][0]["trafficAllocation"][0]["endOfRange"] =
        serde_json::from_str("100000000000000000000").unwrap();
    assert!(ProjectConfig::from_value(&doc).is_ok());
}

#[test]
fn repeated_variation_ids_and_keys_resolve_to_the_later_entry() {
    let mut doc = full();
    doc["experiments"][0]["variations"] = json!([
        {"id": "1", "key": "first"}, {"id": "1", "key": "second"}, {"id": "3", "key": "third"}, {"id": "4", "key": "third"}
    ]);
    let config = ProjectConfig::from_value(&doc).unwrap();
    let exp = &config.experiments[config.experiment_by_key("exp").unwrap()];
    assert_eq!(exp.variation_by_id("1"), Some(1));
    assert_eq!(exp.variation_by_key("third"), Some(3));
    assert_eq!(exp.variation_by_id("3"), None, "the key map keeps only the later \"third\"");
}
