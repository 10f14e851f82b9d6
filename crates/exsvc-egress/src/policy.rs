//! Which addresses outbound requests may go to (docs/api.md §10.3).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The IPv4 ranges that are refused unless allowed.
const REFUSED_V4: [([u8; 4], u8); 11] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

/// The IPv6 ranges that are refused unless allowed (the forms that embed an
/// IPv4 address are judged by that address, see [`embedded_v4`]).
const REFUSED_V6: [(u128, u8); 5] = [
    (0, 128),                 // ::/128
    (1, 128),                 // ::1/128
    (0xfc00_u128 << 112, 7),  // fc00::/7
    (0xfe80_u128 << 112, 10), // fe80::/10
    (0xff00_u128 << 112, 8),  // ff00::/8
];

/// Why an address is refused: the refused range it is in. Names no host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub address: IpAddr,
    pub range: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is in the non-public range {}",
            self.address, self.range
        )
    }
}

/// The egress rules on addresses: public addresses pass, the refused ranges
/// pass only inside the allow-list.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allow: Vec<IpNet>) -> Self {
        AddressPolicy { allow }
    }

    /// `Ok` when `address` may be connected to.
    pub fn check(&self, address: IpAddr) -> Result<(), Refusal> {
        let Some(range) = refused_range(address) else {
            return Ok(());
        };
        let embedded = match address {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = self
            .allow
            .iter()
            .any(|net| net.contains(&address) || embedded.is_some_and(|v4| net.contains(&v4)));
        if allowed {
            Ok(())
        } else {
            Err(Refusal { address, range })
        }
    }
}

/// The refused range `address` is in, if any.
fn refused_range(address: IpAddr) -> Option<String> {
    match address {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            if let Some((net, prefix)) = REFUSED_V6
                .iter()
                .find(|(net, prefix)| bits & mask128(*prefix) == *net)
            {
                return Some(format!("{}/{prefix}", Ipv6Addr::from(*net)));
            }
            let v4 = embedded_v4(v6)?;
            refused_v4(v4).map(|range| format!("{range} (as {v6})"))
        }
    }
}

fn refused_v4(address: Ipv4Addr) -> Option<String> {
    let bits = u32::from(address);
    REFUSED_V4
        .iter()
        .find(|(net, prefix)| bits & mask32(*prefix) == u32::from_be_bytes(*net))
        .map(|(net, prefix)| format!("{}/{prefix}", Ipv4Addr::from(*net)))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:0:0/96`), NAT64
/// (`64:ff9b::/96`) or deprecated IPv4-compatible (`::/96`) IPv6 address.
pub fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(address);
    let prefix = bits >> 32;
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    match prefix {
        0xffff => Some(low),                          // ::ffff:0:0/96
        0x0064_ff9b_0000_0000_0000_0000 => Some(low), // 64:ff9b::/96
        0 => Some(low),                               // ::/96 (RFC 4291 §2.5.5.1, deprecated)
        _ => None,
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}
