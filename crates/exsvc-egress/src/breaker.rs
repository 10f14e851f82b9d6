//! The circuit breaker of one upstream (docs/api.md §10.3): a pure state
//! machine over an injected clock, and the per-process table of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use exsvc_domain::ports::CircuitKey;

/// The state of one circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests go through; `failures` consecutive attempts have failed.
    Closed { failures: u32 },
    /// Nothing goes through until `until`.
    Open { until: Instant },
    /// One trial request is (or may be) under way; its outcome decides.
    HalfOpen { trial_in_flight: bool },
}

/// What [`Circuit::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (the circuit is closed).
    Normal,
    /// Go ahead as the one trial of a half-open circuit.
    Trial,
    /// Do not contact the upstream; try again after this long.
    Rejected { retry_after: Duration },
}

/// How an admitted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An answer other than 5xx.
    Success,
    /// No connection, a timeout, or a 5xx answer.
    Failure,
    /// Counts neither way (a refused destination, or the attempt was abandoned).
    Neutral,
}

/// The breaker's parameters: `failures` consecutive failed attempts open it
/// for `open_for`. `failures == 0` disables it (never opens).
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    pub failures: u32,
    pub open_for: Duration,
}

/// One circuit: a pure state machine, every transition given the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Circuit {
    pub state: CircuitState,
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            state: CircuitState::Closed { failures: 0 },
        }
    }
}

impl Circuit {
    /// Whether an attempt may go out at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            CircuitState::Closed { .. } => Admission::Normal,
            CircuitState::Open { until } if now < until => Admission::Rejected {
                retry_after: until - now,
            },
            CircuitState::Open { .. }
            | CircuitState::HalfOpen {
                trial_in_flight: false,
            } => {
                self.state = CircuitState::HalfOpen {
                    trial_in_flight: true,
                };
                Admission::Trial
            }
            // Rejected as long as the trial runs; at most the connect and response timeouts.
            CircuitState::HalfOpen {
                trial_in_flight: true,
            } => Admission::Rejected {
                retry_after: Duration::from_secs(1),
            },
        }
    }

    /// Records how an attempt admitted as `admission` ended at `now`.
    pub fn record(
        &mut self,
        admission: Admission,
        outcome: Outcome,
        now: Instant,
        config: BreakerConfig,
    ) {
        match (self.state, admission) {
            (_, Admission::Rejected { .. }) => {}
            (CircuitState::HalfOpen { .. }, Admission::Trial) => {
                self.state = match outcome {
                    Outcome::Success => CircuitState::Closed { failures: 0 },
                    Outcome::Failure => CircuitState::Open {
                        until: now + config.open_for,
                    },
                    Outcome::Neutral => CircuitState::HalfOpen {
                        trial_in_flight: false,
                    },
                };
            }
            (CircuitState::Closed { failures }, Admission::Normal) => match outcome {
                Outcome::Success => self.state = CircuitState::Closed { failures: 0 },
                Outcome::Neutral => {}
                Outcome::Failure => {
                    let failures = failures.saturating_add(1);
                    self.state = if config.failures > 0 && failures >= config.failures {
                        CircuitState::Open {
                            until: now + config.open_for,
                        }
                    } else {
                        CircuitState::Closed { failures }
                    };
                }
            },
            // An attempt admitted before the circuit opened, ending after: the
            // circuit already decided without it.
            _ => {}
        }
    }

    /// Whether the circuit is not closed (open or half-open).
    pub fn is_open(&self) -> bool {
        !matches!(self.state, CircuitState::Closed { .. })
    }
}

/// Every circuit of the process. Only circuits that are not healthy are
/// kept: a closed circuit without failures is dropped from the table, so it
/// holds at most one entry per failing upstream.
pub struct Breakers {
    config: BreakerConfig,
    circuits: Mutex<HashMap<CircuitKey, Circuit>>,
    open_gauge: prometheus::IntGauge,
}

impl Breakers {
    pub fn new(config: BreakerConfig, open_gauge: prometheus::IntGauge) -> Self {
        Breakers {
            config,
            circuits: Mutex::new(HashMap::new()),
            open_gauge,
        }
    }

    /// Asks `key`'s circuit for an attempt at `now`; the permit records the
    /// outcome (dropped unrecorded, it counts as neutral).
    pub fn admit(self: &Arc<Self>, key: &CircuitKey, now: Instant) -> Result<Permit, Duration> {
        let admission = self.update(key, |circuit| circuit.admit(now));
        match admission {
            Admission::Rejected { retry_after } => Err(retry_after),
            admission => Ok(Permit {
                breakers: self.clone(),
                key: key.clone(),
                admission,
                done: false,
            }),
        }
    }

    /// The current state of `key`'s circuit.
    pub fn state(&self, key: &CircuitKey) -> CircuitState {
        self.lock().get(key).copied().unwrap_or_default().state
    }

    fn update<T>(&self, key: &CircuitKey, change: impl FnOnce(&mut Circuit) -> T) -> T {
        let mut circuits = self.lock();
        let mut circuit = circuits.get(key).copied().unwrap_or_default();
        let result = change(&mut circuit);
        if circuit == Circuit::default() {
            circuits.remove(key);
        } else {
            circuits.insert(key.clone(), circuit);
        }
        let open = circuits.values().filter(|c| c.is_open()).count();
        self.open_gauge.set(i64::try_from(open).unwrap_or(i64::MAX));
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CircuitKey, Circuit>> {
        self.circuits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One admitted attempt.
pub struct Permit {
    breakers: Arc<Breakers>,
    key: CircuitKey,
    admission: Admission,
    done: bool,
}

impl Permit {
    pub fn record(mut self, outcome: Outcome, now: Instant) {
        self.finish(outcome, now);
    }

    fn finish(&mut self, outcome: Outcome, now: Instant) {
        if self.done {
            return;
        }
        self.done = true;
        let (admission, config) = (self.admission, self.breakers.config);
        self.breakers.update(&self.key, |circuit| {
            circuit.record(admission, outcome, now, config);
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // The caller went away mid-attempt: a trial frees its slot.
        self.finish(Outcome::Neutral, Instant::now());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CONFIG: BreakerConfig = BreakerConfig {
        failures: 3,
        open_for: Duration::from_secs(30),
    };

    fn fail(circuit: &mut Circuit, now: Instant) {
        let admission = circuit.admit(now);
        circuit.record(admission, Outcome::Failure, now, CONFIG);
    }

    #[test]
    fn opens_after_the_consecutive_failures() {
        let t0 = Instant::now();
        let mut circuit = Circuit::default();
        fail(&mut circuit, t0);
        fail(&mut circuit, t0);
        assert_eq!(circuit.state, CircuitState::Closed { failures: 2 });
        fail(&mut circuit, t0);
        assert_eq!(
            circuit.state,
            CircuitState::Open {
                until: t0 + CONFIG.open_for
            }
        );
        assert_eq!(
            circuit.admit(t0 + Duration::from_secs(10)),
            Admission::Rejected {
                retry_after: Duration::from_secs(20)
            }
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut circuit = Circuit::default();
        fail(&mut circuit, t0);
        fail(&mut circuit, t0);
        let admission = circuit.admit(t0);
        circuit.record(admission, Outcome::Success, t0, CONFIG);
        assert_eq!(circuit, Circuit::default());
        fail(&mut circuit, t0);
        fail(&mut circuit, t0);
        assert_eq!(circuit.state, CircuitState::Closed { failures: 2 });
    }

    #[test]
    fn neutral_outcomes_do_not_count() {
        let t0 = Instant::now();
        let mut circuit = Circuit::default();
        fail(&mut circuit, t0);
        for _ in 0..10 {
            let admission = circuit.admit(t0);
            circuit.record(admission, Outcome::Neutral, t0, CONFIG);
        }
        assert_eq!(circuit.state, CircuitState::Closed { failures: 1 });
    }

    fn open(t0: Instant) -> Circuit {
        let mut circuit = Circuit::default();
        for _ in 0..3 {
            fail(&mut circuit, t0);
        }
        circuit
    }

    #[test]
    fn after_the_open_time_one_trial_goes_through() {
        let t0 = Instant::now();
        let mut circuit = open(t0);
        let later = t0 + CONFIG.open_for;
        assert_eq!(circuit.admit(later), Admission::Trial);
        assert!(matches!(circuit.admit(later), Admission::Rejected { .. }));
        assert!(matches!(circuit.admit(later), Admission::Rejected { .. }));
        circuit.record(Admission::Trial, Outcome::Success, later, CONFIG);
        assert_eq!(circuit, Circuit::default());
        assert_eq!(circuit.admit(later), Admission::Normal);
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let t0 = Instant::now();
        let mut circuit = open(t0);
        let later = t0 + CONFIG.open_for + Duration::from_secs(1);
        assert_eq!(circuit.admit(later), Admission::Trial);
        circuit.record(Admission::Trial, Outcome::Failure, later, CONFIG);
        assert_eq!(
            circuit.state,
            CircuitState::Open {
                until: later + CONFIG.open_for
            }
        );
        assert!(matches!(
            circuit.admit(later + Duration::from_secs(29)),
            Admission::Rejected { .. }
        ));
        assert_eq!(circuit.admit(later + CONFIG.open_for), Admission::Trial);
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot() {
        let t0 = Instant::now();
        let mut circuit = open(t0);
        let later = t0 + CONFIG.open_for;
        assert_eq!(circuit.admit(later), Admission::Trial);
        circuit.record(Admission::Trial, Outcome::Neutral, later, CONFIG);
        assert_eq!(circuit.admit(later), Admission::Trial);
    }

    #[test]
    fn late_outcomes_of_earlier_attempts_do_not_decide() {
        let t0 = Instant::now();
        let mut circuit = open(t0);
        // An attempt admitted while closed succeeds after the circuit opened.
        circuit.record(Admission::Normal, Outcome::Success, t0, CONFIG);
        assert!(matches!(circuit.state, CircuitState::Open { .. }));
        let later = t0 + CONFIG.open_for;
        assert_eq!(circuit.admit(later), Admission::Trial);
        circuit.record(Admission::Normal, Outcome::Success, later, CONFIG);
        assert_eq!(
            circuit.state,
            CircuitState::HalfOpen {
                trial_in_flight: true
            }
        );
    }

    #[test]
    fn zero_failures_disables_it() {
        let t0 = Instant::now();
        let config = BreakerConfig {
            failures: 0,
            ..CONFIG
        };
        let mut circuit = Circuit::default();
        for _ in 0..100 {
            let admission = circuit.admit(t0);
            circuit.record(admission, Outcome::Failure, t0, config);
        }
        assert_eq!(circuit.admit(t0), Admission::Normal);
    }

    fn key() -> CircuitKey {
        CircuitKey {
            tenant: exsvc_domain::TenantId::parse("t1").unwrap(),
            service: exsvc_domain::ServiceId::parse("00000000-0000-0000-0000-000000000001")
                .unwrap(),
        }
    }

    #[test]
    fn the_table_keeps_only_unhealthy_circuits_and_gauges_the_open_ones() {
        let gauge = prometheus::IntGauge::new("open", "open").unwrap();
        let breakers = Arc::new(Breakers::new(CONFIG, gauge.clone()));
        let key = key();
        let t0 = Instant::now();
        for _ in 0..3 {
            breakers
                .admit(&key, t0)
                .unwrap()
                .record(Outcome::Failure, t0);
        }
        assert_eq!(gauge.get(), 1);
        assert!(breakers.admit(&key, t0).is_err());
        let later = t0 + CONFIG.open_for;
        let trial = breakers.admit(&key, later).unwrap();
        assert!(breakers.admit(&key, later).is_err());
        drop(trial); // abandoned
        let trial = breakers.admit(&key, later).unwrap();
        trial.record(Outcome::Success, later);
        assert_eq!(gauge.get(), 0);
        assert!(breakers.lock().is_empty());
    }
}
