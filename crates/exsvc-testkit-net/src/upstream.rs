//! A scriptable upstream: records what it receives, answers what it is told.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::serve::{bind_local, serve, Handler, Server, TestBody};
use crate::TestCa;

/// Request bodies up to this size are kept whole; longer ones only by length and hash.
pub const KEEP_BODY_BYTES: u64 = 1 << 20;

/// What the upstream answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A whole answer.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// Reads the request, then never answers (the connection stays open).
    Hang,
    /// Waits `delay` before the answer's headers (a slow upstream).
    Delay { delay: Duration, then: Box<Reply> },
    /// `total` bytes generated `chunk` bytes at a time, never held whole:
    /// byte `k` of the body is `k % 251`.
    Stream {
        status: u16,
        headers: Vec<(String, String)>,
        total: u64,
        chunk: usize,
    },
    /// 200 with the request's body (when kept, see [`KEEP_BODY_BYTES`]) and
    /// `x-echo-method` / `x-echo-target` headers.
    Echo,
}

impl Reply {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Reply::Respond {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(body.into()),
        }
    }

    /// An `application/json` answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Reply::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Reply::status(status).header("location", location)
    }

    /// [`Reply::Stream`] of `mib` MiB in 64 KiB chunks.
    pub fn stream_mib(mib: u64) -> Self {
        Reply::Stream {
            status: 200,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            total: mib << 20,
            chunk: 64 << 10,
        }
    }

    pub fn hang() -> Self {
        Reply::Hang
    }

    pub fn echo() -> Self {
        Reply::Echo
    }

    /// The same answer, its headers sent after `delay`.
    pub fn after(self, delay: Duration) -> Self {
        Reply::Delay {
            delay,
            then: Box::new(self),
        }
    }

    /// Adds a header (an answer, a stream, or the answer after a delay).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match &mut self {
            Reply::Respond { headers, .. } | Reply::Stream { headers, .. } => {
                headers.push((name.to_owned(), value.to_owned()));
            }
            Reply::Delay { then, .. } => {
                let inner = std::mem::replace(then.as_mut(), Reply::Hang);
                **then = inner.header(name, value);
            }
            Reply::Hang | Reply::Echo => {}
        }
        self
    }
}

/// The byte at offset `k` of a [`Reply::Stream`] body.
pub fn stream_byte(k: u64) -> u8 {
    (k % 251) as u8
}

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query exactly as on the wire.
    pub target: String,
    /// Every header line in order (names lower-case, duplicates kept).
    pub headers: Vec<(String, String)>,
    /// The body when it is at most [`KEEP_BODY_BYTES`].
    pub body: Option<Bytes>,
    pub body_len: u64,
    pub body_sha256: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The kept body as text (empty when not kept).
    pub fn body_text(&self) -> String {
        self.body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

struct Script {
    queue: VecDeque<Reply>,
    default: Reply,
    requests: Vec<RecordedRequest>,
}

/// An upstream on 127.0.0.1: HTTPS with a leaf of the given [`TestCa`] (valid for
/// `127.0.0.1`, `::1`, `localhost`), or plain HTTP. It answers the queued
/// replies in order, then the default (200, empty).
pub struct UpstreamServer {
    server: Server,
    script: Arc<Mutex<Script>>,
}

impl UpstreamServer {
    /// HTTPS, with a certificate from `ca`.
    pub async fn https(ca: &TestCa) -> Self {
        Self::start(Some(ca.server_config_default())).await
    }

    /// HTTPS with a certificate from a CA of its own, which nobody trusts.
    pub async fn untrusted() -> Self {
        Self::https(&TestCa::new()).await
    }

    /// Plain HTTP.
    pub async fn http() -> Self {
        Self::start(None).await
    }

    /// TLS with `tls`, or plain HTTP without.
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            queue: VecDeque::new(),
            default: Reply::status(200),
            requests: Vec::new(),
        }));
        let shared = script.clone();
        let handler: Handler = Arc::new(move |request| {
            let script = shared.clone();
            Box::pin(async move { answer(script, request).await })
        });
        let server = serve(bind_local().await, tls, handler);
        UpstreamServer { server, script }
    }

    /// Queues one reply.
    pub fn push(&self, reply: Reply) -> &Self {
        self.script.lock().unwrap().queue.push_back(reply);
        self
    }

    /// Queues replies in order: `push_all([Reply::status(503), Reply::status(503), Reply::status(200)])`.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.script.lock().unwrap().queue.extend(replies);
        self
    }

    /// The reply once the queue is empty.
    pub fn set_default(&self, reply: Reply) -> &Self {
        self.script.lock().unwrap().default = reply;
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `base_url` + `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.script.lock().unwrap().requests.len()
    }
}

async fn answer(script: Arc<Mutex<Script>>, request: Request<Incoming>) -> Response<TestBody> {
    let (parts, mut body) = request.into_parts();
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut len: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            hasher.update(&data);
            len += data.len() as u64;
            if len <= KEEP_BODY_BYTES {
                kept.extend_from_slice(&data);
            }
        }
    }
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: (len <= KEEP_BODY_BYTES).then(|| Bytes::from(kept)),
        body_len: len,
        body_sha256: hasher.finalize().to_vec(),
    };
    let reply = {
        let mut script = script.lock().unwrap();
        script.requests.push(recorded.clone());
        script
            .queue
            .pop_front()
            .unwrap_or_else(|| script.default.clone())
    };
    respond(reply, &recorded).await
}

async fn respond(mut reply: Reply, request: &RecordedRequest) -> Response<TestBody> {
    loop {
        match reply {
            Reply::Delay { delay, then } => {
                tokio::time::sleep(delay).await;
                reply = *then;
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Respond {
                status,
                headers,
                body,
            } => return build(status, &headers, full(body)),
            Reply::Echo => {
                let body = request.body.clone().unwrap_or_default();
                let mut headers = vec![
                    ("x-echo-method".to_owned(), request.method.clone()),
                    ("x-echo-target".to_owned(), request.target.clone()),
                ];
                if let Some(ct) = request.header("content-type") {
                    headers.push(("content-type".to_owned(), ct.to_owned()));
                }
                return build(200, &headers, full(body));
            }
            Reply::Stream {
                status,
                headers,
                total,
                chunk,
            } => {
                let chunk = chunk.max(1) as u64;
                let chunks = stream::unfold(0u64, move |offset| async move {
                    if offset >= total {
                        return None;
                    }
                    let end = (offset + chunk).min(total);
                    let data: Vec<u8> = (offset..end).map(stream_byte).collect();
                    Some((Ok::<_, std::io::Error>(Frame::data(Bytes::from(data))), end))
                });
                return build(status, &headers, StreamBody::new(chunks).boxed_unsync());
            }
        }
    }
}

pub(crate) fn full(body: Bytes) -> TestBody {
    Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn build(
    status: u16,
    headers: &[(String, String)],
    body: TestBody,
) -> Response<TestBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    for (name, value) in headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            http::HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    response
}
