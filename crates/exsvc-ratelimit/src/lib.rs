//! The `RateLimiter` port (docs/api.md §5): a burst of up to `limit` requests per key,
//! refilled continuously at `limit` per minute (GCRA).
//!
//! - `InProcessLimiter` (governor): one process, the default.
//! - `RedisLimiter`: one budget across every replica; one Lua script per
//!   request, atomic, on Redis's clock, with a short timeout.

mod memory;
mod redis_store;

pub use memory::InProcessLimiter;
pub use redis_store::RedisLimiter;
