//! Peers on 127.0.0.1 that outbound-HTTP tests talk to over real sockets:
//!
//! - [`TestCa`]: a certificate authority made at test time (its PEM goes to
//!   `EXSVC_EGRESS_CA_FILE`), issuing leaves for `127.0.0.1`, `::1` and `localhost`;
//! - [`UpstreamServer`]: an HTTPS (or plain HTTP) server that records every
//!   request and connection and answers from a script of [`Reply`]s;
//! - [`TokenEndpoint`]: an OAuth 2.0 client-credentials token endpoint
//!   (RFC 6749 §4.4) that checks the client's authentication.
//!
//! No dependency on the other exsvc crates. Every server stops when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a failed setup must fail the test, loudly.

mod ca;
mod serve;
mod token;
mod upstream;

pub use ca::{TestCa, LOCAL_NAMES};
pub use serve::{serve, Handler, Server, TestBody};
pub use token::{TokenAuth, TokenEndpoint, TokenEndpointConfig, TokenRequest};
pub use upstream::{stream_byte, RecordedRequest, Reply, UpstreamServer, KEEP_BODY_BYTES};

/// A port on 127.0.0.1 nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
