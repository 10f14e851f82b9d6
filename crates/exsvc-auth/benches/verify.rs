//! Cost of verifying one token, per algorithm, with and without the cache of
//! verified tokens. `cargo bench -p exsvc-auth --bench verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark's setup may fail loudly.

use criterion::{criterion_group, criterion_main, Criterion};
use exsvc_auth::{Algorithm, HmacSecret, JwtVerifier, VerificationKey, VerifierSettings};
use exsvc_domain::ports::TokenVerifier;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../exsvc-testkit/fixtures");
const SECRET: &str = "benchmark-hmac-secret-at-least-32-bytes";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let public = ["rsa-public.pem", "ec256-public.pem", "ed25519-public.pem"]
        .map(|f| VerificationKey::from_pem(&fixture(f)).unwrap());
    let settings = || VerifierSettings {
        hmac_secret: Some(HmacSecret::new(SECRET.into()).unwrap()),
        public_keys: public.to_vec(),
        ..Default::default()
    };
    let verifier = rt.block_on(JwtVerifier::new(settings())).unwrap();
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let cases = [
        (
            "HS256",
            Algorithm::HS256,
            EncodingKey::from_secret(SECRET.as_bytes()),
        ),
        (
            "RS256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap(),
        ),
        (
            "ES256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&fixture("ec256-private.pem")).unwrap(),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&fixture("ed25519-private.pem")).unwrap(),
        ),
    ];
    let mut group = c.benchmark_group("verify");
    for (name, alg, key) in cases {
        // Uncached: a new token (new jti) each iteration, so every call checks a signature.
        let mut n = 0u64;
        group.bench_function(format!("{name}/uncached"), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    let claims = json!({"tenant_id": "bench", "sub": "u", "exp": exp, "jti": n, "roles": ["admin"]});
                    encode(&Header::new(alg), &claims, &key).unwrap()
                },
                |token| rt.block_on(verifier.verify(&token)).unwrap(),
                criterion::BatchSize::SmallInput,
            );
        });
        let token = encode(
            &Header::new(alg),
            &json!({"tenant_id": "bench", "exp": exp, "roles": ["admin"]}),
            &key,
        )
        .unwrap();
        rt.block_on(verifier.verify(&token)).unwrap();
        group.bench_function(format!("{name}/cached"), |b| {
            b.iter(|| rt.block_on(verifier.verify(&token)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
