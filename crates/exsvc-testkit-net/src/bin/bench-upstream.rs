//! The benchmark upstream: any request → 200 with a small fixed JSON body,
//! HTTP/1.1 keep-alive, on every core; `/token` answers as an OAuth 2.0 token
//! endpoint would (a token valid for an hour), for the broker's figure.
//!
//! ```text
//! bench-upstream --port 8443 --ca-out /tmp/bench-ca.pem   # HTTPS, leaf from a fresh TestCa
//! bench-upstream --port 8080 --plain                      # plain HTTP
//! ```
//! With HTTPS the CA certificate is written to `--ca-out` (trust it with
//! `EXSVC_EGRESS_CA_FILE`, or `curl --cacert`) before the port is listened on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test tool: a bad argument ends it loudly.

use std::sync::Arc;

use bytes::Bytes;
use exsvc_testkit_net::{serve, Handler, TestBody, TestCa};
use http_body_util::{BodyExt, Full};

const BODY: &str = r#"{"id":"bench","status":"ok","items":[1,2,3]}"#;
const TOKEN: &str = r#"{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}"#;
const USAGE: &str = "usage: bench-upstream --port PORT (--ca-out PATH | --plain)";

fn main() {
    let mut port: u16 = 0;
    let mut ca_out = None;
    let mut plain = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).expect(USAGE),
            "--ca-out" => ca_out = Some(args.next().expect(USAGE)),
            "--plain" => plain = true,
            _ => panic!("{USAGE}"),
        }
    }
    assert!(plain != ca_out.is_some(), "{USAGE}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let tls = ca_out.map(|path| {
            let ca = TestCa::new();
            ca.write_pem(&path);
            ca.server_config_default()
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let handler: Handler = Arc::new(|request| {
            let answer = if request.uri().path() == "/token" {
                TOKEN
            } else {
                BODY
            };
            Box::pin(async move {
                let body: TestBody = Full::new(Bytes::from_static(answer.as_bytes()))
                    .map_err(|never| match never {})
                    .boxed_unsync();
                let mut response = hyper::Response::new(body);
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                response
            })
        });
        let server = serve(listener, tls, handler);
        eprintln!("bench-upstream listening on {}", server.base_url());
        let _ = tokio::signal::ctrl_c().await;
    });
}
