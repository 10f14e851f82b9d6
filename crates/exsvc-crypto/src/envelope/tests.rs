use std::collections::HashSet;

use base64::Engine as _;
use exsvc_domain::{ServiceId, TenantId};
use proptest::prelude::*;

use super::*;

const SERVICE_A: &str = "0190f7a2-1c3e-7b4d-9a01-0123456789ab";
const SERVICE_B: &str = "0190f7a2-1c3e-7b4d-9a01-0123456789ac";
const SECRET: &[u8] = b"client-secret-s3cr3t";

fn key(id: &str, byte: u8) -> String {
    format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    )
}

fn cipher(ids: &[&str]) -> EnvelopeCipher {
    let text: Vec<String> = ids
        .iter()
        .map(|id| key(id, id.bytes().last().unwrap()))
        .collect();
    EnvelopeCipher::new(Keyring::parse(&text.join(",")).unwrap())
}

fn binding(tenant: &str, service: &str, version: i64) -> CredentialBinding {
    CredentialBinding {
        tenant: TenantId::parse(tenant).unwrap(),
        service: ServiceId::parse(service).unwrap(),
        version,
    }
}

fn acme() -> CredentialBinding {
    binding("acme", SERVICE_A, 3)
}

/// Offsets of the format-1 regions for a key id of `id_len` bytes.
struct Layout {
    key_id: std::ops::Range<usize>,
    dek_nonce: std::ops::Range<usize>,
    sealed_dek: std::ops::Range<usize>,
    data_nonce: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
    tag: std::ops::Range<usize>,
}

fn layout(id_len: usize, total: usize) -> Layout {
    let dek_nonce = 2 + id_len;
    let data_nonce = dek_nonce + NONCE_LEN + SEALED_DEK_LEN;
    Layout {
        key_id: 2..dek_nonce,
        dek_nonce: dek_nonce..dek_nonce + NONCE_LEN,
        sealed_dek: dek_nonce + NONCE_LEN..data_nonce,
        data_nonce: data_nonce..data_nonce + NONCE_LEN,
        data: data_nonce + NONCE_LEN..total - TAG_LEN,
        tag: total - TAG_LEN..total,
    }
}

fn flipped(bytes: &[u8], index: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 1 << bit;
    out
}

#[test]
fn round_trips_and_frames_as_documented() {
    let c = cipher(&["k1"]);
    for plaintext in [&b""[..], SECRET, &[0u8; 4096][..]] {
        let bytes = c.encrypt(plaintext, &acme()).unwrap();
        assert_eq!(bytes.len(), 2 + 2 + 12 + 48 + 12 + plaintext.len() + 16);
        assert_eq!(&bytes[..4], b"\x01\x02k1");
        assert_eq!(&c.decrypt(&bytes, &acme()).unwrap()[..], plaintext);
    }
}

#[test]
fn any_flipped_bit_fails() {
    let c = cipher(&["k1"]);
    let bytes = c.encrypt(SECRET, &acme()).unwrap();
    let l = layout(2, bytes.len());
    for region in [&l.dek_nonce, &l.sealed_dek, &l.data_nonce, &l.data, &l.tag] {
        for index in region.clone() {
            for bit in 0..8 {
                let result = c.decrypt(&flipped(&bytes, index, bit), &acme());
                assert_eq!(
                    result.unwrap_err(),
                    CipherError::Tampered,
                    "byte {index} bit {bit}"
                );
            }
        }
    }
    for index in l.key_id.clone() {
        for bit in 0..8 {
            let err = c
                .decrypt(&flipped(&bytes, index, bit), &acme())
                .unwrap_err();
            assert!(
                matches!(err, CipherError::UnknownKey(_) | CipherError::Malformed),
                "byte {index} bit {bit}: {err:?}"
            );
        }
    }
    for index in 0..2 {
        for bit in 0..8 {
            assert!(c.decrypt(&flipped(&bytes, index, bit), &acme()).is_err());
        }
    }
}

#[test]
fn a_key_id_flipped_to_another_known_key_fails_authentication() {
    // '1' ^ 0x02 == '3': the flipped id names a real key, whose seal does not open.
    let c = cipher(&["k1", "k3"]);
    let bytes = c.encrypt(SECRET, &acme()).unwrap();
    let forged = flipped(&bytes, 3, 1);
    assert_eq!(&forged[2..4], b"k3");
    assert_eq!(
        c.decrypt(&forged, &acme()).unwrap_err(),
        CipherError::Tampered
    );
}

#[test]
fn another_binding_fails() {
    let c = cipher(&["k1"]);
    let bytes = c.encrypt(SECRET, &acme()).unwrap();
    for other in [
        binding("acme2", SERVICE_A, 3),
        binding("ACME", SERVICE_A, 3),
        binding("acme", SERVICE_B, 3),
        binding("acme", SERVICE_A, 2),
        binding("acme", SERVICE_A, 4),
    ] {
        assert_eq!(
            c.decrypt(&bytes, &other).unwrap_err(),
            CipherError::Tampered
        );
        assert_eq!(c.rewrap(&bytes, &other).unwrap_err(), CipherError::Tampered);
    }
}

#[test]
fn unknown_key_is_named() {
    let bytes = cipher(&["old"]).encrypt(SECRET, &acme()).unwrap();
    let err = cipher(&["k1"]).decrypt(&bytes, &acme()).unwrap_err();
    assert_eq!(err, CipherError::UnknownKey("old".into()));
}

#[test]
fn wrong_format_or_truncation_is_malformed() {
    let c = cipher(&["k1"]);
    let bytes = c.encrypt(SECRET, &acme()).unwrap();
    let minimum = 2 + 2 + 12 + 48 + 12 + 16;
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(c.decrypt(&v2, &acme()).unwrap_err(), CipherError::Malformed);
    for len in 0..minimum {
        assert_eq!(
            c.decrypt(&bytes[..len], &acme()).unwrap_err(),
            CipherError::Malformed
        );
    }
    // Shorter sealed data still frames, but no longer authenticates.
    assert_eq!(
        c.decrypt(&bytes[..minimum], &acme()).unwrap_err(),
        CipherError::Tampered
    );
}

#[test]
fn ten_thousand_encryptions_never_repeat_a_nonce_or_ciphertext() {
    let c = cipher(&["k1"]);
    let mut nonces = HashSet::new();
    let mut sealed = HashSet::new();
    for _ in 0..10_000 {
        let bytes = c.encrypt(SECRET, &acme()).unwrap();
        let l = layout(2, bytes.len());
        assert!(nonces.insert(bytes[l.dek_nonce].to_vec()));
        assert!(nonces.insert(bytes[l.data_nonce].to_vec()));
        assert!(sealed.insert(bytes[l.sealed_dek].to_vec()));
        assert!(sealed.insert(bytes[l.data.start..].to_vec()));
    }
}

#[test]
fn rotation_rewraps_only_the_data_key() {
    let old = cipher(&["k1"]);
    let both = cipher(&["k2", "k1"]);
    let new = cipher(&["k2"]);

    let bytes = old.encrypt(SECRET, &acme()).unwrap();
    assert_eq!(&both.decrypt(&bytes, &acme()).unwrap()[..], SECRET);
    assert_eq!(old.rewrap(&bytes, &acme()).unwrap(), None);

    let rewrapped = both.rewrap(&bytes, &acme()).unwrap().unwrap();
    assert_eq!(&rewrapped[..4], b"\x01\x02k2");
    let (l_old, l_new) = (layout(2, bytes.len()), layout(2, rewrapped.len()));
    assert_eq!(
        bytes[l_old.data_nonce.start..],
        rewrapped[l_new.data_nonce.start..]
    );

    assert_eq!(&new.decrypt(&rewrapped, &acme()).unwrap()[..], SECRET);
    assert_eq!(&both.decrypt(&rewrapped, &acme()).unwrap()[..], SECRET);
    assert_eq!(both.rewrap(&rewrapped, &acme()).unwrap(), None);
    assert_eq!(new.rewrap(&rewrapped, &acme()).unwrap(), None);
    assert_eq!(
        new.decrypt(&bytes, &acme()).unwrap_err(),
        CipherError::UnknownKey("k1".into())
    );
}

#[test]
fn rewrap_rejects_what_decrypt_rejects() {
    let both = cipher(&["k2", "k1"]);
    let bytes = cipher(&["k1"]).encrypt(SECRET, &acme()).unwrap();
    let last = bytes.len() - 1;
    assert_eq!(
        both.rewrap(&flipped(&bytes, last, 0), &acme()).unwrap_err(),
        CipherError::Tampered
    );
    assert_eq!(
        both.rewrap(&bytes[..10], &acme()).unwrap_err(),
        CipherError::Malformed
    );
}

#[test]
fn debug_never_shows_key_bytes() {
    let canary = [0xA5u8; 32];
    let encoded = base64::engine::general_purpose::STANDARD.encode(canary);
    let c = EnvelopeCipher::new(Keyring::parse(&format!("canary:{encoded}")).unwrap());
    let debug = format!("{c:?} {:#?}", c.keyring());
    assert!(debug.contains("canary"));
    assert!(!debug.contains(&encoded[..8]), "{debug}");
    assert!(
        !debug.contains("165") && !debug.to_lowercase().contains("a5a5"),
        "{debug}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let c = cipher(&["k1"]);
        prop_assert!(c.decrypt(&bytes, &acme()).is_err());
        prop_assert!(c.rewrap(&bytes, &acme()).is_err());
    }

    #[test]
    fn framed_garbage_never_panics(
        id_len in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Past the format byte, so parsing reaches the length and id checks.
        let mut bytes = vec![FORMAT_V1, id_len];
        bytes.extend_from_slice(b"k1");
        bytes.extend_from_slice(&tail);
        let c = cipher(&["k1"]);
        prop_assert!(c.decrypt(&bytes, &acme()).is_err());
        prop_assert!(c.rewrap(&bytes, &acme()).is_err());
    }
}

#[test]
fn request_digests_are_keyed_stable_and_survive_rotation() {
    let k1 = cipher(&["k1"]);
    let (id, first) = k1.request_digest(SECRET);
    assert_eq!(id, "k1");
    assert_eq!(k1.request_digest(SECRET).1, first);
    assert_ne!(k1.request_digest(b"other").1, first);
    // Not a bare hash of the data: another master key gives another digest.
    assert_ne!(cipher(&["k2"]).request_digest(SECRET).1, first);
    // After rotation the old key still recomputes an old digest, by id.
    let rotated = cipher(&["k2", "k1"]);
    assert_eq!(rotated.request_digest(SECRET).0, "k2");
    assert_eq!(rotated.request_digest_with("k1", SECRET), Some(first));
    assert_eq!(rotated.request_digest_with("gone", SECRET), None);
}
