use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use crate::service::ServiceId;

/// The current time.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, truncated to microseconds: the precision both stores keep, so a value
    /// read back equals the value written.
    fn now(&self) -> DateTime<Utc>;
}

/// New service identifiers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait IdGenerator: Send + Sync + 'static {
    /// A fresh UUIDv7: time-ordered, so new rows land at the end of the index.
    fn new_service_id(&self) -> ServiceId;

    /// A fresh UUIDv7 for an audit event.
    fn new_event_id(&self) -> Uuid;
}

/// The system clock. It lives here, not in an adapter crate, because it is one
/// line of code over the standard library and does no I/O worth isolating.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_service_id(&self) -> ServiceId {
        ServiceId::from_uuid(Uuid::now_v7())
    }

    fn new_event_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_has_microsecond_precision() {
        assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn ids_are_v7_and_distinct() {
        let a = UuidV7Generator.new_service_id();
        let b = UuidV7Generator.new_service_id();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_ne!(a, b);
    }
}
