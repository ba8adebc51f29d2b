//! The 16-byte key an event uuid is deduplicated by.

use sha2::{Digest, Sha256};

/// A stored uuid's key.
pub(crate) type Key = [u8; 16];

/// The key of event uuid `uuid`. Uuids compare as strings (a retry sends the same
/// string). The usual lowercase `8-4-4-4-12` form is its own 16 bytes. Any other string
/// is the first 16 bytes of a SHA-256 of it under a fixed prefix: a cryptographic hash,
/// so nobody can craft a string whose key equals another event's uuid, and an accidental
/// collision is as unlikely as two random uuids being equal.
pub(crate) fn uuid_key(uuid: &str) -> Key {
    canonical(uuid.as_bytes()).unwrap_or_else(|| {
        let digest = Sha256::new().chain_update(b"vario event uuid\0").chain_update(uuid.as_bytes()).finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        key
    })
}

/// The 16 bytes of a lowercase canonical uuid, or `None` for any other string.
fn canonical(bytes: &[u8]) -> Option<Key> {
    if bytes.len() != 36 {
        return None;
    }
    let mut key = [0; 16];
    let mut nibbles = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let nibble = match (i, b) {
            (8 | 13 | 18 | 23, b'-') => continue,
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => b - b'0',
            (_, b'a'..=b'f') => b - b'a' + 10,
            _ => return None,
        };
        key[nibbles / 2] |= if nibbles % 2 == 0 { nibble << 4 } else { nibble };
        nibbles += 1;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::uuid_key;

    #[test]
    fn a_canonical_uuid_is_its_own_sixteen_bytes() {
        assert_eq!(
            uuid_key("0a1b2c3d-4e5f-6789-abcd-ef0123456789"),
            [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89]
        );
    }

    #[test]
    fn other_strings_get_distinct_hashed_keys() {
        let canonical = uuid_key("0a1b2c3d-4e5f-6789-abcd-ef0123456789");
        // Upper case is another string, so another key.
        let upper = uuid_key("0A1B2C3D-4E5F-6789-ABCD-EF0123456789");
        assert_ne!(upper, canonical);
        assert_eq!(upper, uuid_key("0A1B2C3D-4E5F-6789-ABCD-EF0123456789"));
        // Dashes in the wrong places are not the canonical form either.
        assert_ne!(uuid_key("0a1b2c3d4-e5f-6789-abcd-ef0123456789"), canonical);
        let keys = ["", "\0", "r-0", "r-1", "0a1b2c3d-4e5f-6789-abcd-ef012345678g"].map(uuid_key);
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
