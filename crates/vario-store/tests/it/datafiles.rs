use vario_store::{Datafiles, StoreError, is_valid_sdk_key, sha256_hex};

#[test]
fn datafiles_are_replaced_and_survive_a_new_handle() {
    let dir = tempfile::tempdir().unwrap();
    let files = Datafiles::new(dir.path());
    assert_eq!(files.load_all().unwrap(), vec![]);
    files.put("key_1", b"{\"a\": 1}").unwrap();
    let second = files.put("key_1", b"{\"a\": 2}").unwrap();
    files.put("other-key", b"{}").unwrap();
    assert_eq!(second.sha256, sha256_hex(b"{\"a\": 2}"));

    let again = Datafiles::new(dir.path());
    let all = again.load_all().unwrap();
    assert_eq!(all.iter().map(|d| d.sdk_key.as_str()).collect::<Vec<_>>(), ["key_1", "other-key"]);
    assert_eq!(again.get("key_1").unwrap().unwrap().bytes, b"{\"a\": 2}");
    assert_eq!(again.get("missing").unwrap(), None);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path().join("datafiles")).unwrap().count(), 2);
}

#[test]
fn sdk_keys_cannot_escape_the_directory() {
    for bad in ["", "../x", "a/b", "a.json", "a b", &"k".repeat(129)] {
        assert!(!is_valid_sdk_key(bad), "{bad}");
        assert!(matches!(Datafiles::new("/nonexistent").put(bad, b"{}"), Err(StoreError::InvalidKey(_))));
    }
    assert!(is_valid_sdk_key("AbC-123_x"));
}
