//! The egress metrics: outbound attempts by outcome and status class, their
//! latency to the response headers, and the number of open circuits. No
//! label ever names a URL, a host, a header or a secret.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

use exsvc_domain::ports::EgressError;

#[derive(Clone)]
pub struct Metrics {
    requests: IntCounterVec,
    latency: Histogram,
    pub open_circuits: IntGauge,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "exsvc_egress_requests_total",
                "Outbound HTTP attempts (each retry counts) and refusals, by outcome and status class.",
            ),
            &["outcome", "status_class"],
        )?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "exsvc_egress_request_duration_seconds",
                "Time from sending an outbound request to its response headers.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )?;
        let open_circuits = IntGauge::new(
            "exsvc_egress_open_circuits",
            "Circuits of this process that are open or half-open.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(open_circuits.clone()))?;
        Ok(Metrics {
            requests,
            latency,
            open_circuits,
        })
    }

    pub fn answered(&self, status: http::StatusCode, seconds: f64) {
        self.latency.observe(seconds);
        self.requests
            .with_label_values(&["answered", status_class(status)])
            .inc();
    }

    pub fn failed(&self, error: &EgressError) {
        self.requests
            .with_label_values(&[outcome(error), "none"])
            .inc();
    }
}

fn status_class(status: http::StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "none",
    }
}

fn outcome(error: &EgressError) -> &'static str {
    match error {
        EgressError::Denied { .. } => "denied",
        EgressError::Dns => "dns_error",
        EgressError::ConnectionRefused => "connection_refused",
        EgressError::ConnectTimeout => "connection_timeout",
        EgressError::ResponseTimeout => "response_timeout",
        EgressError::Tls => "tls_error",
        EgressError::Unreachable => "unreachable",
        EgressError::CircuitOpen { .. } => "circuit_open",
        EgressError::RequestBody => "request_body_error",
    }
}
