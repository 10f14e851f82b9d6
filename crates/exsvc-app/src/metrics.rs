//! Prometheus metrics of the HTTP layer and the connection pool. Each app owns
//! its registry (no global recorder), so several apps in one process — as in the
//! tests — never mix their numbers.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Connections of the store's pool, read at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUsage {
    pub in_use: usize,
    pub idle: usize,
    pub max: usize,
}

impl PoolUsage {
    /// From a pool's status: its maximum size, the connections it holds and how
    /// many of them are available.
    pub fn from_pool(max: usize, size: usize, available: usize) -> Self {
        Self {
            in_use: size.saturating_sub(available),
            idle: available,
            max,
        }
    }
}

pub type PoolUsageProbe = Arc<dyn Fn() -> PoolUsage + Send + Sync>;

/// The method as a label: standard methods by name, anything else `OTHER`, so a
/// client inventing methods cannot create unbounded series.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT" | "TRACE" => {
            method
        }
        _ => "OTHER",
    }
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    credential_reads: prometheus::IntCounter,
    rate_limit_refusals: IntCounterVec,
    rate_limit_store_errors: prometheus::IntCounter,
    pool_usage: PoolUsageProbe,
}

/// Latency buckets in seconds: fine below 10 ms, where this service lives.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// The registry, for adapters that register their own metrics in it
    /// (the egress client's).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// # Errors
    /// Only if metric definitions clash (a programming error).
    /// The HTTP layer's metrics, registered in `registry` (which other
    /// adapters may share: the egress client's are registered there too).
    pub fn new(pool_usage: PoolUsageProbe, registry: Registry) -> Result<Self, prometheus::Error> {
        let labels = ["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new(
                "exsvc_http_requests_total",
                "HTTP requests by route template and status",
            ),
            &labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "exsvc_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &labels,
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "exsvc_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        let credential_reads = prometheus::IntCounter::new(
            "exsvc_credential_reads_total",
            "Credentials revealed to callers (each one is in the audit trail)",
        )?;
        registry.register(Box::new(credential_reads.clone()))?;
        let rate_limit_refusals = IntCounterVec::new(
            Opts::new(
                "exsvc_rate_limit_refusals_total",
                "Requests refused with 429, by budget (tenant or client)",
            ),
            &["scope"],
        )?;
        registry.register(Box::new(rate_limit_refusals.clone()))?;
        let rate_limit_store_errors = prometheus::IntCounter::new(
            "exsvc_rate_limit_store_errors_total",
            "Rate-limit checks whose store (Redis) failed",
        )?;
        registry.register(Box::new(rate_limit_store_errors.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool,
            credential_reads,
            rate_limit_refusals,
            rate_limit_store_errors,
            pool_usage,
        })
    }

    /// Counts one finished request. `route` is the matched template (bounded
    /// label values), never the raw path.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method_label(method), route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    pub fn rate_limit_refused(&self, scope: &str) {
        self.rate_limit_refusals.with_label_values(&[scope]).inc();
    }

    pub fn rate_limit_store_error(&self) {
        self.rate_limit_store_errors.inc();
    }

    /// Counts one revealed credential.
    pub fn credential_read(&self) {
        self.credential_reads.inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let usage = (self.pool_usage)();
        let gauge = |state: &str, n: usize| {
            self.pool
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX))
        };
        gauge("in_use", usage.in_use);
        gauge("idle", usage.idle);
        gauge("max", usage.max);
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
