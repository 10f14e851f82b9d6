//! Signing tokens with the test key pairs in `fixtures/`, and JWKS documents of
//! their public halves.

use exsvc_auth::{Algorithm, VerificationKey};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

/// A test key pair by fixture name: `rsa`, `rsa2`, `ec256`, `ec384`, `ed25519`.
#[derive(Clone, Copy, Debug)]
pub struct TestKey(pub &'static str);

pub const RSA: TestKey = TestKey("rsa");
pub const RSA2: TestKey = TestKey("rsa2");
pub const EC256: TestKey = TestKey("ec256");
pub const EC384: TestKey = TestKey("ec384");
pub const ED25519: TestKey = TestKey("ed25519");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

impl TestKey {
    pub fn public_pem(self) -> Vec<u8> {
        read(&format!("{}-public.pem", self.0))
    }

    pub fn public_pem_path(self) -> String {
        format!("{FIXTURES}/{}-public.pem", self.0)
    }

    pub fn verification_key(self) -> VerificationKey {
        VerificationKey::from_pem(&self.public_pem()).expect("public key")
    }

    pub fn encoding_key(self) -> EncodingKey {
        let pem = read(&format!("{}-private.pem", self.0));
        match self.0 {
            "rsa" | "rsa2" => EncodingKey::from_rsa_pem(&pem),
            "ec256" | "ec384" => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .expect("private key")
    }

    /// Signs `claims` with this key under `header` (whose `alg` must fit the key).
    pub fn sign(self, header: &Header, claims: &Value) -> String {
        encode(header, claims, &self.encoding_key()).expect("signing")
    }

    /// The public JWK of this key for `alg`, with `kid`.
    pub fn jwk(self, alg: Algorithm, kid: &str) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), alg).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    }
}

/// A header for `alg` naming `kid`.
pub fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    header
}

/// A JWKS document of `keys`.
pub fn jwks(keys: Vec<Jwk>) -> Value {
    serde_json::to_value(JwkSet { keys }).expect("jwks json")
}
