//! The address rules of docs/api.md §10.3, address by address.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use exsvc_egress::AddressPolicy;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One address inside each refused range, its first and last address.
const REFUSED: &[&str] = &[
    "0.0.0.0",
    "0.255.255.255",
    "10.0.0.0",
    "10.255.255.255",
    "100.64.0.0",
    "100.127.255.255",
    "127.0.0.1",
    "127.255.255.255",
    "169.254.169.254",
    "169.254.0.0",
    "172.16.0.0",
    "172.31.255.255",
    "192.0.0.0",
    "192.0.0.255",
    "192.168.0.1",
    "192.168.255.255",
    "198.18.0.0",
    "198.19.255.255",
    "224.0.0.1",
    "239.255.255.255",
    "240.0.0.0",
    "255.255.255.255",
    "::",
    "::1",
    "fc00::",
    "fd12:3456::1",
    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::1",
    "febf:ffff::1",
    "ff00::",
    "ff02::1",
];

/// Just outside the refused ranges, and well-known public addresses.
const PUBLIC: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.0",
    "192.0.2.1",
    "192.167.255.255",
    "192.169.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "fbff:ffff::1",
    "fec0::1",
    "feff::1",
    "2001:db8::1",
];

#[test]
fn every_refused_range_is_refused() {
    let policy = AddressPolicy::default();
    for address in REFUSED {
        let refusal = policy.check(ip(address)).unwrap_err();
        assert_eq!(refusal.address, ip(address));
    }
    assert_eq!(
        policy.check(ip("169.254.169.254")).unwrap_err().range,
        "169.254.0.0/16"
    );
    assert_eq!(policy.check(ip("fd00::1")).unwrap_err().range, "fc00::/7");
}

#[test]
fn public_addresses_pass() {
    let policy = AddressPolicy::default();
    for address in PUBLIC {
        assert!(policy.check(ip(address)).is_ok(), "{address}");
    }
}

#[test]
fn ipv4_mapped_nat64_and_compatible_forms_are_judged_by_their_ipv4_address() {
    let policy = AddressPolicy::default();
    for v4 in REFUSED.iter().filter(|a| !a.contains(':')) {
        for form in [
            format!("::ffff:{v4}"),
            format!("64:ff9b::{v4}"),
            format!("::{v4}"),
        ] {
            assert!(policy.check(ip(&form)).is_err(), "{form}");
        }
    }
    for v4 in PUBLIC.iter().filter(|a| !a.contains(':')) {
        for form in [format!("::ffff:{v4}"), format!("64:ff9b::{v4}")] {
            assert!(policy.check(ip(&form)).is_ok(), "{form}");
        }
    }
    assert_eq!(
        policy.check(ip("::ffff:127.0.0.1")).unwrap_err().range,
        "127.0.0.0/8 (as ::ffff:127.0.0.1)"
    );
}

#[test]
fn the_allow_list_lets_its_networks_through_and_only_them() {
    let policy = AddressPolicy::new(vec![
        "127.0.0.0/8".parse().unwrap(),
        "10.1.0.0/16".parse().unwrap(),
        "fd00:1::/32".parse().unwrap(),
    ]);
    for address in ["127.0.0.1", "127.9.9.9", "10.1.2.3", "fd00:1::5"] {
        assert!(policy.check(ip(address)).is_ok(), "{address}");
    }
    // The unwrapped IPv4 form is checked against the allow-list too.
    for address in ["::ffff:127.0.0.1", "64:ff9b::10.1.0.1"] {
        assert!(policy.check(ip(address)).is_ok(), "{address}");
    }
    for address in [
        "10.2.0.1",
        "192.168.1.1",
        "::1",
        "169.254.169.254",
        "fd00:2::1",
        "::ffff:10.2.0.1",
    ] {
        assert!(policy.check(ip(address)).is_err(), "{address}");
    }
    // Public addresses are not affected by an allow-list.
    assert!(policy.check(ip("8.8.8.8")).is_ok());
}

#[test]
fn an_allow_list_of_mapped_addresses_matches_as_given() {
    let policy = AddressPolicy::new(vec!["::ffff:127.0.0.0/104".parse().unwrap()]);
    assert!(policy.check(ip("::ffff:127.0.0.1")).is_ok());
    assert!(policy.check(ip("127.0.0.1")).is_err());
}
