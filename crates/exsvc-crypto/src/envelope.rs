//! Envelope encryption: a fresh data key (DEK) per credential version seals the
//! plaintext; the primary master key seals the DEK. Rotating a master key then
//! rewrites only the 60-byte DEK part of each row, never the credential.
//!
//! Stored bytes (format 1):
//!
//! ```text
//! [format u8 = 1][key id len u8 (1..=32)][key id, ASCII]
//! [DEK nonce 12][sealed DEK 32 + tag 16]
//! [data nonce 12][sealed plaintext n + tag 16]
//! ```
//!
//! Associated data binds each seal to its row, so bytes copied to another
//! tenant, service or version fail to open (see [`aad`]):
//! - plaintext seal: label "exsvc/credential/data", format, tenant, service, version;
//! - DEK seal: label "exsvc/credential/dek", the same fields, then the master key id.

use exsvc_domain::ports::{CipherError, CredentialBinding, CredentialCipher};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::keyring::{is_valid_id, Keyring, MasterKey};

const FORMAT_V1: u8 = 1;
const DEK_LEN: usize = 32;
const TAG_LEN: usize = 16;
const SEALED_DEK_LEN: usize = DEK_LEN + TAG_LEN;
const DATA_LABEL: &[u8] = b"exsvc/credential/data";
const DEK_LABEL: &[u8] = b"exsvc/credential/dek";
const DIGEST_KEY_LABEL: &[u8] = b"exsvc/request-digest/key";

/// [`CredentialCipher`] over a [`Keyring`]. `Debug` shows key ids only.
#[derive(Debug)]
pub struct EnvelopeCipher {
    keyring: Keyring,
    rng: SystemRandom,
}

impl EnvelopeCipher {
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring,
            rng: SystemRandom::new(),
        }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn random<const N: usize>(&self) -> Result<Zeroizing<[u8; N]>, CipherError> {
        let mut bytes = Zeroizing::new([0u8; N]);
        self.rng
            .fill(bytes.as_mut())
            .map_err(|_| CipherError::Failed)?;
        Ok(bytes)
    }

    /// Appends the header and the DEK sealed under `master` to `out`.
    fn push_sealed_dek(
        &self,
        out: &mut Vec<u8>,
        master: &MasterKey,
        dek: &[u8],
        binding: &CredentialBinding,
    ) -> Result<(), CipherError> {
        let id_len = u8::try_from(master.id.len()).map_err(|_| CipherError::Failed)?;
        let nonce = self.random::<NONCE_LEN>()?;
        out.extend_from_slice(&[FORMAT_V1, id_len]);
        out.extend_from_slice(master.id.as_bytes());
        out.extend_from_slice(nonce.as_ref());
        seal_onto(
            out,
            &master.key[..],
            *nonce,
            &aad(DEK_LABEL, binding, Some(&master.id)),
            dek,
        )
    }

    /// Opens both seals of `bytes`.
    fn open<'a>(
        &self,
        bytes: &'a [u8],
        binding: &CredentialBinding,
    ) -> Result<Opened<'a>, CipherError> {
        let frame = Frame::parse(bytes)?;
        let master = self
            .keyring
            .get(frame.key_id)
            .ok_or_else(|| CipherError::UnknownKey(frame.key_id.to_owned()))?;
        let dek_aad = aad(DEK_LABEL, binding, Some(frame.key_id));
        let dek = open_copy(&master.key[..], frame.dek_nonce, &dek_aad, frame.sealed_dek)?;
        let data_aad = aad(DATA_LABEL, binding, None);
        let plaintext = open_copy(&dek, frame.data_nonce, &data_aad, frame.sealed_data)?;
        Ok(Opened {
            frame,
            dek,
            plaintext,
        })
    }
}

/// What `open` yields; `rewrap` reseals the DEK and keeps the data part.
struct Opened<'a> {
    frame: Frame<'a>,
    dek: Zeroizing<Vec<u8>>,
    plaintext: Zeroizing<Vec<u8>>,
}

impl CredentialCipher for EnvelopeCipher {
    fn encrypt(
        &self,
        plaintext: &[u8],
        binding: &CredentialBinding,
    ) -> Result<Vec<u8>, CipherError> {
        let master = self.keyring.primary();
        let dek = self.random::<DEK_LEN>()?;
        let data_nonce = self.random::<NONCE_LEN>()?;
        // Sized up front so no reallocation leaves a plaintext copy behind, and
        // zeroized if an error drops it half-built.
        let mut out = Zeroizing::new(Vec::with_capacity(
            2 + master.id.len()
                + NONCE_LEN
                + SEALED_DEK_LEN
                + NONCE_LEN
                + plaintext.len()
                + TAG_LEN,
        ));
        self.push_sealed_dek(&mut out, master, &dek[..], binding)?;
        out.extend_from_slice(data_nonce.as_ref());
        seal_onto(
            &mut out,
            &dek[..],
            *data_nonce,
            &aad(DATA_LABEL, binding, None),
            plaintext,
        )?;
        Ok(std::mem::take(&mut *out))
    }

    fn decrypt(
        &self,
        ciphertext: &[u8],
        binding: &CredentialBinding,
    ) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        self.open(ciphertext, binding)
            .map(|opened| opened.plaintext)
    }

    fn rewrap(
        &self,
        ciphertext: &[u8],
        binding: &CredentialBinding,
    ) -> Result<Option<Vec<u8>>, CipherError> {
        // Opening the data part too means a rewrap never vouches for bytes
        // that would not decrypt afterwards.
        let Opened { frame, dek, .. } = self.open(ciphertext, binding)?;
        let primary = self.keyring.primary();
        if frame.key_id == primary.id {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(
            2 + primary.id.len() + NONCE_LEN + SEALED_DEK_LEN + NONCE_LEN + frame.sealed_data.len(),
        );
        self.push_sealed_dek(&mut out, primary, &dek, binding)?;
        out.extend_from_slice(&frame.data_nonce);
        out.extend_from_slice(frame.sealed_data);
        Ok(Some(out))
    }

    fn request_digest(&self, data: &[u8]) -> (String, [u8; 32]) {
        let master = self.keyring.primary();
        (master.id.clone(), digest(master, data))
    }

    fn request_digest_with(&self, key_id: &str, data: &[u8]) -> Option<[u8; 32]> {
        self.keyring.get(key_id).map(|master| digest(master, data))
    }
}

/// HMAC-SHA-256 of `data` under a key of its own derived from `master`, so a
/// digest can never be confused with, or help attack, an encryption under it.
fn digest(master: &MasterKey, data: &[u8]) -> [u8; 32] {
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &master.key[..]),
        DIGEST_KEY_LABEL,
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The parts of format-1 bytes, borrowed; nothing here is authenticated yet.
struct Frame<'a> {
    key_id: &'a str,
    dek_nonce: [u8; NONCE_LEN],
    sealed_dek: &'a [u8],
    data_nonce: [u8; NONCE_LEN],
    sealed_data: &'a [u8],
}

impl<'a> Frame<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, CipherError> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&'a [u8], CipherError> {
            let (head, tail) = rest.split_at_checked(n).ok_or(CipherError::Malformed)?;
            rest = tail;
            Ok(head)
        };
        let [format, id_len] = take(2)? else {
            return Err(CipherError::Malformed);
        };
        if *format != FORMAT_V1 {
            return Err(CipherError::Malformed);
        }
        // Only a valid id may reach `UnknownKey`, which is logged.
        let key_id = std::str::from_utf8(take(usize::from(*id_len))?)
            .ok()
            .filter(|id| is_valid_id(id))
            .ok_or(CipherError::Malformed)?;
        let dek_nonce = nonce_from(take(NONCE_LEN)?)?;
        let sealed_dek = take(SEALED_DEK_LEN)?;
        let data_nonce = nonce_from(take(NONCE_LEN)?)?;
        if rest.len() < TAG_LEN {
            return Err(CipherError::Malformed);
        }
        Ok(Self {
            key_id,
            dek_nonce,
            sealed_dek,
            data_nonce,
            sealed_data: rest,
        })
    }
}

fn nonce_from(bytes: &[u8]) -> Result<[u8; NONCE_LEN], CipherError> {
    bytes.try_into().map_err(|_| CipherError::Malformed)
}

/// Associated data for one seal. Every variable-length field carries its
/// length, so no two bindings encode to the same bytes.
fn aad(label: &[u8], binding: &CredentialBinding, key_id: Option<&str>) -> Vec<u8> {
    let tenant = binding.tenant.as_str().as_bytes();
    let mut out = Vec::with_capacity(64 + tenant.len());
    push_prefixed(&mut out, label);
    out.push(FORMAT_V1);
    push_prefixed(&mut out, tenant);
    out.extend_from_slice(binding.service.as_uuid().as_bytes());
    out.extend_from_slice(&binding.version.to_be_bytes());
    if let Some(id) = key_id {
        push_prefixed(&mut out, id.as_bytes());
    }
    out
}

fn push_prefixed(out: &mut Vec<u8>, field: &[u8]) {
    // usize -> u64 is lossless on every target Rust supports.
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, CipherError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CipherError::Failed)
}

/// Appends `plaintext` sealed (ciphertext then tag) to `out`.
fn seal_onto(
    out: &mut Vec<u8>,
    key: &[u8],
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(), CipherError> {
    let key = aead_key(key)?;
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[start..],
        )
        .map_err(|_| CipherError::Failed)?;
    out.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Opens a copy of `sealed`; the copy is zeroized whether or not it opens.
fn open_copy(
    key: &[u8],
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    let key = aead_key(key)?;
    let mut buffer = Zeroizing::new(sealed.to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buffer[..],
        )
        .map_err(|_| CipherError::Tampered)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
mod tests;
