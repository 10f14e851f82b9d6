//! reqwest's errors as [`EgressError`]s, found by walking the source chain.

use std::error::Error as StdError;
use std::io;

use exsvc_domain::ports::{BodyError, EgressError};

use crate::resolve::{DeniedAddress, ResolveFailed};

/// How a failed attempt failed.
#[derive(Debug)]
pub struct Failure {
    pub error: EgressError,
    /// No connection was made (so the request was certainly not received):
    /// the attempt may be retried.
    pub not_connected: bool,
}

/// Classifies a failed `send` of a request to `host`.
pub fn classify(error: &reqwest::Error, host: &str) -> Failure {
    if find::<BodyError>(error).is_some() {
        return Failure {
            error: EgressError::RequestBody,
            not_connected: false,
        };
    }
    if let Some(denied) = find::<DeniedAddress>(error) {
        return Failure {
            error: EgressError::Denied {
                host: host.to_owned(),
                reason: denied.refusal.to_string(),
            },
            not_connected: false,
        };
    }
    if find::<ResolveFailed>(error).is_some() {
        return Failure {
            error: EgressError::Dns,
            not_connected: false,
        };
    }
    if find::<rustls::Error>(error).is_some() {
        return Failure {
            error: EgressError::Tls,
            not_connected: false,
        };
    }
    let connect = error.is_connect();
    // Not retried: docs/api.md §10.3 retries no attempt that timed out, so a
    // hung destination is answered within the timeout, not a multiple of it.
    if connect && error.is_timeout() {
        return Failure {
            error: EgressError::ConnectTimeout,
            not_connected: false,
        };
    }
    // The client's read timeout: the headers or the body stopped arriving.
    if error.is_timeout() {
        return Failure {
            error: EgressError::ResponseTimeout,
            not_connected: false,
        };
    }
    if connect && has_io_kind(error, io::ErrorKind::ConnectionRefused) {
        return Failure {
            error: EgressError::ConnectionRefused,
            not_connected: true,
        };
    }
    Failure {
        error: EgressError::Unreachable,
        not_connected: connect,
    }
}

/// The first error of type `T` in `error`'s chain, looking inside `io::Error`s
/// too (whose `source()` skips the error they wrap).
pub fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut found = None;
    walk(error, &mut |e| {
        found = e.downcast_ref::<T>();
        found.is_some()
    });
    found
}

/// Whether some `io::Error` of the chain is of `kind`.
fn has_io_kind(error: &(dyn StdError + 'static), kind: io::ErrorKind) -> bool {
    walk(error, &mut |e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}

/// Visits the chain until `visit` says stop; true when it did.
fn walk<'a>(
    error: &'a (dyn StdError + 'static),
    visit: &mut dyn FnMut(&'a (dyn StdError + 'static)) -> bool,
) -> bool {
    let mut next: Option<&'a (dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if visit(current) {
            return true;
        }
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &'a (dyn StdError + 'static) = inner;
            if walk(inner, visit) {
                return true;
            }
        }
        next = current.source();
    }
    false
}
