//! The HTTP layer's own refusals (docs/api.md §3, docs/architecture.md "The HTTP
//! layer"): requests that actix-http's HTTP/1 parser refuses before any route or
//! middleware runs, and requests that parse but exceed our limits on the request
//! line, the headers or the query.
//!
//! actix-http answers a head it cannot parse itself, with a bare 400 or 431 (no
//! body, no `X-Request-Id`) and an ERROR log line, and offers no hook for it.
//! [`Guarded`] wraps each connection's socket and decodes what the client sends
//! with a second copy of actix-http's own decoder, so both agree on where every
//! request begins. At the first head the decoder refuses, it stops passing bytes
//! on (actix sees the client finish sending), lets actix answer the requests
//! before it, and then, when actix closes the connection, writes the envelope.

use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_codec::Decoder as _;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, MessageType};
use actix_http::{HttpService, KeepAlive, ServiceConfig};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt as _};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::App;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::ApiError;

/// The longest request target (path and query) served: longer is 414.
pub const MAX_URI_LEN: usize = 8 * 1024;
/// The longest header line (name and value) served: longer is 431. Above the
/// 8 KiB a bearer token may have, so an over-long token is still a 401 that
/// says why (docs/security.md).
pub const MAX_HEADER_LEN: usize = 32 * 1024;
/// All header names and values together: more is 431.
pub const MAX_HEADERS_LEN: usize = 64 * 1024;
/// The most query parameters a request may carry: more is 400.
pub const MAX_QUERY_PARAMS: usize = 100;

/// Refuses a parsed request over the limits above, before anything else runs.
pub fn check_limits(req: &ServiceRequest) -> Result<(), ApiError> {
    let params = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty())
        .count();
    if params > MAX_QUERY_PARAMS {
        return Err(ApiError::http_layer(
            StatusCode::BAD_REQUEST,
            format!("At most {MAX_QUERY_PARAMS} query parameters are accepted"),
        ));
    }
    if !decodes_to_utf8(req.path().as_bytes()) {
        return Err(ApiError::http_layer(
            StatusCode::BAD_REQUEST,
            "The request path is not UTF-8 once percent-decoded",
        ));
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_URI_LEN {
        return Err(ApiError::http_layer(
            StatusCode::URI_TOO_LONG,
            target_too_long(),
        ));
    }
    let mut total = 0;
    for (name, value) in req.headers() {
        let len = name.as_str().len() + value.len();
        if len > MAX_HEADER_LEN {
            return Err(ApiError::http_layer(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("A header exceeds {MAX_HEADER_LEN} bytes"),
            ));
        }
        total += len;
    }
    if total > MAX_HEADERS_LEN {
        return Err(ApiError::http_layer(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("The headers exceed {MAX_HEADERS_LEN} bytes in all"),
        ));
    }
    Ok(())
}

/// The one wording of a 414, whichever layer finds the target too long.
fn target_too_long() -> String {
    format!("The request target exceeds {MAX_URI_LEN} bytes")
}

/// Whether `path`, its `%HH` escapes decoded, is UTF-8.
fn decodes_to_utf8(path: &[u8]) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let escaped = match (path[i], path.get(i + 1), path.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(path[i]);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// What `HttpServer` would be given: the same timeouts, our connection wrapper.
pub struct ServerSettings {
    pub workers: usize,
    /// Per worker, as actix counts.
    pub max_connections_per_worker: usize,
    pub shutdown_timeout: Duration,
    /// `EXSVC_BODY_TIMEOUT_MS`: with the head's own timeout, how long one
    /// message (head and body) may take to arrive, on every request of a
    /// connection (actix times only the first head, and a body it stopped
    /// reading not at all).
    pub body_timeout: Duration,
}

/// A head must arrive within this (actix-web's `HttpServer` default).
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A closing connection gets this long to finish (actix-web's default), which
/// also bounds how long a refused client's remaining bytes are drained.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The server: actix-web's `HttpServer` without its socket handling, each
/// connection wrapped in [`Guarded`].
pub fn server<F, T, B>(
    factory: F,
    listener: std::net::TcpListener,
    settings: &ServerSettings,
) -> io::Result<actix_server::Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_service::ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let builder = actix_server::Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let listen = listener.local_addr()?;
    let message_timeout = CLIENT_REQUEST_TIMEOUT + settings.body_timeout;
    builder
        .workers(settings.workers)
        .max_concurrent_connections(settings.max_connections_per_worker)
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .listen("exsvc", listener, move || {
            let shutdown = shutdown.clone();
            let app = factory()
                .into_factory()
                .map_err(|error| error.error_response());
            let http = HttpService::build()
                .keep_alive(KeepAlive::default())
                .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
                .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
                .local_addr(listen)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                // The app uses neither the host nor the scheme of its config.
                .h1(map_config(app, |()| AppConfig::default()));
            fn_service(move |io: TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok((Guarded::new(io, peer, message_timeout), peer)))
            })
            .and_then(http)
        })
        .map(actix_server::ServerBuilder::run)
}

/// A connection's socket, refusing what actix-http's parser would refuse with
/// the envelope instead of a bare status.
pub struct Guarded<T> {
    io: T,
    peer: Option<SocketAddr>,
    /// A copy of the dispatcher's decoder, fed the same bytes first.
    shadow: Codec,
    /// Bytes passed on that the shadow has not consumed yet.
    pending: BytesMut,
    refusal: Option<Refusal>,
    /// How long one message (head and body) may take to arrive.
    message_timeout: Duration,
    /// Running while a message is arriving; when it fires, actix is told the
    /// client has finished sending, and closes the connection.
    message_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

struct Refusal {
    /// The envelope answer, written once actix has finished and closes.
    answer: Option<Vec<u8>>,
    written: usize,
    /// When writing the answer and dropping the client's remaining bytes ends.
    drain_until: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Our side of the connection is shut once the answer is out.
    shut: bool,
}

impl<T> Guarded<T> {
    pub fn new(io: T, peer: Option<SocketAddr>, message_timeout: Duration) -> Self {
        Self {
            io,
            peer,
            shadow: Codec::new(ServiceConfig::default()),
            pending: BytesMut::new(),
            refusal: None,
            message_timeout,
            message_deadline: None,
        }
    }

    /// Starts the deadline when a message begins, ends it when one is whole.
    fn track_message(&mut self, whole: bool) {
        if whole {
            self.message_deadline = None;
        } else if self.message_deadline.is_none() {
            self.message_deadline = Some(Box::pin(tokio::time::sleep(self.message_timeout)));
        }
    }

    /// Feeds `fresh` to the shadow decoder; returns how many of them, from the
    /// end, belong to a refused message and must be withheld from actix.
    fn inspect(&mut self, fresh: &[u8]) -> usize {
        self.pending.extend_from_slice(fresh);
        loop {
            let in_body = self.shadow.message_type() != MessageType::None;
            if !in_body && self.pending.is_empty() {
                // Between messages with nothing pending, the decoder could only
                // answer that it needs more bytes, after clearing a table of
                // 96 header slots (3 KiB): the cost of a second decode on every
                // request, for nothing. The decoder is stateless between heads.
                self.track_message(true);
                return 0;
            }
            let before = self.pending.len();
            // Decoded until it needs more bytes: a body's end is only reported
            // by the call after its last bytes (so an empty buffer is decoded too).
            match self.shadow.decode(&mut self.pending) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    // Whole: nothing of a next message yet, and no body pending.
                    let whole =
                        self.pending.is_empty() && self.shadow.message_type() == MessageType::None;
                    self.track_message(whole);
                    return 0;
                }
                Err(error) => {
                    self.refuse(&error, in_body);
                    return before;
                }
            }
        }
    }

    fn refuse(&mut self, error: &ParseError, in_body: bool) {
        let id = uuid::Uuid::now_v7().to_string();
        let peer = self.peer.map(|p| p.ip().to_string());
        let peer = peer.as_deref().unwrap_or("-");
        if in_body {
            // A request whose head was served: its handler sees the body end
            // early and answers (with the envelope) itself.
            tracing::warn!(peer, reason = %error, "malformed request body: the connection is closed");
            self.refusal = Some(Refusal {
                answer: None,
                written: 0,
                drain_until: None,
                shut: false,
            });
            return;
        }
        let request_line = self
            .pending
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(self.pending.len());
        let (status, message) = match error {
            // No line end within the limit: the request line itself is too long.
            ParseError::TooLarge if request_line == self.pending.len() => (
                StatusCode::URI_TOO_LONG,
                "The request line is too long".to_owned(),
            ),
            // A whole line whose target the `http` crate will not hold (64 KiB
            // and more): too long, not malformed, as below 64 KiB (check_limits).
            ParseError::Uri(_) if request_line > MAX_URI_LEN => {
                (StatusCode::URI_TOO_LONG, target_too_long())
            }
            ParseError::TooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "The request head is too large".to_owned(),
            ),
            other => (
                StatusCode::BAD_REQUEST,
                format!("The request is not valid HTTP/1.1: {other}"),
            ),
        };
        tracing::warn!(
            request_id = %id,
            peer,
            status = status.as_u16(),
            reason = %error,
            "malformed request refused by the HTTP layer"
        );
        let body = ApiError::http_layer(status, message).envelope_json();
        let mut answer = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             x-request-id: {id}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        self.refusal = Some(Refusal {
            answer: Some(answer),
            written: 0,
            drain_until: None,
            shut: false,
        });
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // To actix, the client has finished sending.
            return Poll::Ready(Ok(()));
        }
        if let Some(deadline) = this.message_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                // A message that stopped arriving: to actix the client has
                // finished, so it answers what it can (a body it is still
                // reading ends early) and closes the connection.
                tracing::warn!(
                    peer = %this.peer.map_or_else(|| "-".to_owned(), |p| p.ip().to_string()),
                    "a request did not arrive in time: the connection is closed"
                );
                this.message_deadline = None;
                this.refusal = Some(Refusal {
                    answer: None,
                    drain_until: None,
                    written: 0,
                    shut: false,
                });
                return Poll::Ready(Ok(()));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let fresh = &buf.filled()[before..];
        let passed = fresh.len() - this.inspect(fresh).min(fresh.len());
        buf.set_filled(before + passed);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// Actix closes the connection once it has answered everything before the
    /// refused request: the refusal's answer goes out now, then the remaining
    /// bytes the client sends are read and dropped (until it closes, or actix's
    /// disconnect timeout ends the wait), so that closing with unread data does
    /// not reset the connection before the client has read the answer.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(refusal) = this.refusal.as_mut() else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        // One bound for writing the answer and draining: a client that stops
        // reading cannot hold the connection either.
        let deadline = refusal
            .drain_until
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(CLIENT_DISCONNECT_TIMEOUT)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        if let Some(answer) = &refusal.answer {
            while refusal.written < answer.len() {
                let n = ready!(Pin::new(&mut this.io).poll_write(cx, &answer[refusal.written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                refusal.written += n;
            }
        }
        if !refusal.shut {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            refusal.shut = true;
        }
        let mut sink = [0u8; 8192];
        loop {
            if let Some(deadline) = refusal.drain_until.as_mut() {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(()));
                }
            }
            let mut drain = ReadBuf::new(&mut sink);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut drain)) {
                Ok(()) if drain.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => {}
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
#[path = "edge_tests.rs"]
mod tests;
