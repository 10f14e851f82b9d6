//! Whatever arrives as a bearer token, verification answers with an error or a
//! principal, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_auth::{HmacSecret, JwtVerifier, VerifierSettings};
use exsvc_domain::ports::TokenVerifier;
use proptest::prelude::*;

fn verifier(rt: &tokio::runtime::Runtime) -> JwtVerifier {
    let secret = HmacSecret::new("a-property-test-secret-of-32-bytes!!".into()).unwrap();
    rt.block_on(JwtVerifier::new(VerifierSettings {
        hmac_secret: Some(secret),
        ..Default::default()
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_text(token in ".{0,600}") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let v = verifier(&rt);
        prop_assert!(rt.block_on(v.verify(&token)).is_err());
    }

    #[test]
    fn three_arbitrary_segments(a in "[A-Za-z0-9_-]{0,120}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,90}") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let v = verifier(&rt);
        let token = format!("{a}.{b}.{c}");
        prop_assert!(rt.block_on(v.verify(&token)).is_err());
    }
}
