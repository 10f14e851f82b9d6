//! What a rate-limit check costs per request: in-process and on Redis.
//! `cargo bench -p exsvc-ratelimit --bench check` (needs Redis on 127.0.0.1:6379).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark's setup may fail loudly.

use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use exsvc_domain::ports::RateLimiter;
use exsvc_ratelimit::{InProcessLimiter, RedisLimiter};

fn check(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A budget that never runs out, so every check takes the same path.
    let limit = 1_000_000_000;
    let memory =
        rt.block_on(async { InProcessLimiter::per_minute(NonZeroU32::new(limit).unwrap()) });
    let redis = rt
        .block_on(RedisLimiter::connect(
            "redis://127.0.0.1:6379",
            "exsvc-bench:",
            limit,
            Duration::from_secs(1),
        ))
        .expect("Redis on 127.0.0.1:6379");
    let mut group = c.benchmark_group("rate_limit_check");
    group.bench_function("in_process", |b| {
        b.iter(|| rt.block_on(memory.check("tenant-1")).unwrap())
    });
    group.bench_function("redis", |b| {
        b.iter(|| rt.block_on(redis.check("tenant-1")).unwrap())
    });
    group.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
