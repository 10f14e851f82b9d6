#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use exsvc_domain::ports::{
    CircuitKey, EgressError, OutboundBody, OutboundRequest, OutboundResponse, Upstream,
};
use exsvc_domain::{ServiceId, TenantId};
use exsvc_egress::{Egress, EgressSettings};
use exsvc_testkit_net::TestCa;
use futures_util::StreamExt;

pub fn loopback() -> Vec<ipnet::IpNet> {
    vec!["127.0.0.0/8".parse().unwrap()]
}

/// Settings for tests: short timeouts, the test CA trusted, 127.0.0.0/8 allowed.
pub fn settings(ca: &TestCa) -> EgressSettings {
    EgressSettings {
        allow_cidrs: loopback(),
        extra_roots_pem: Some(ca.ca_pem().into_bytes()),
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
        retries: 2,
        breaker_failures: 3,
        breaker_open: Duration::from_secs(1),
        ..EgressSettings::default()
    }
}

pub fn egress(settings: EgressSettings) -> (Arc<Egress>, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    (
        Arc::new(Egress::new(settings, &registry).unwrap()),
        registry,
    )
}

pub fn circuit() -> CircuitKey {
    CircuitKey {
        tenant: TenantId::parse("tenant-1").unwrap(),
        service: ServiceId::parse(&format!("00000000-0000-0000-0000-{:012x}", rand_suffix()))
            .unwrap(),
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

pub fn request(method: &str, url: &str) -> OutboundRequest {
    request_on(circuit(), method, url)
}

pub fn request_on(circuit: CircuitKey, method: &str, url: &str) -> OutboundRequest {
    OutboundRequest {
        circuit,
        method: method.parse().unwrap(),
        url: url::Url::parse(url).unwrap(),
        headers: http::HeaderMap::new(),
        body: OutboundBody::Empty,
    }
}

pub fn with_body(mut request: OutboundRequest, body: &'static str) -> OutboundRequest {
    request.body = OutboundBody::Full(Bytes::from_static(body.as_bytes()));
    request
}

pub async fn send(
    egress: &Egress,
    request: OutboundRequest,
) -> Result<OutboundResponse, EgressError> {
    egress.send(request).await
}

pub async fn body_len(response: OutboundResponse) -> u64 {
    let mut body = response.body;
    let mut len = 0;
    while let Some(chunk) = body.next().await {
        len += chunk.unwrap().len() as u64;
    }
    len
}

/// The sum of the samples of `name` (exactly) whose labels include all of `labels`.
pub fn metric(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus::Encoder;
    let mut text = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The whole metrics text.
pub fn metrics_text(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut text = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text).unwrap()
}
