//! `Guarded` over an in-memory duplex pipe: what actix would read from a
//! client's bytes, and what the client gets back when a head is refused.

use std::future::Future;
use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::Guarded;

const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
const POST: &[u8] = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";

/// Runs `test` where actix-http's decoder can live (it spawns a local task),
/// with the clock paused where the test waits on timeouts, so they take no
/// wall time.
fn run(paused_clock: bool, test: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused_clock)
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, test);
}

fn guarded(timeout: Duration) -> (Guarded<DuplexStream>, DuplexStream) {
    let (server, client) = duplex(256 * 1024);
    (Guarded::new(server, None, timeout), client)
}

/// Everything the guarded side lets through until it reports the end.
async fn read_all(guarded: &mut Guarded<DuplexStream>) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), guarded.read(&mut buffer))
            .await
            .expect("the guarded side answers")
            .unwrap();
        if n == 0 {
            return seen;
        }
        seen.extend_from_slice(&buffer[..n]);
    }
}

#[test]
fn well_formed_messages_pass_unchanged_byte_for_byte() {
    run(false, async {
        let (mut guarded, mut client) = guarded(Duration::from_secs(5));
        let sent = [GET, POST, GET].concat();
        // In pieces that split heads and bodies, as a network does.
        for piece in sent.chunks(7) {
            client.write_all(piece).await.unwrap();
        }
        client.shutdown().await.unwrap();
        assert_eq!(read_all(&mut guarded).await, sent);
        assert!(guarded.refusal.is_none());
    });
}

#[test]
fn a_malformed_head_is_withheld_and_answered_with_the_envelope() {
    run(false, async {
        let (mut guarded, mut client) = guarded(Duration::from_secs(5));
        let bad = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n";
        client.write_all(&[GET, bad].concat()).await.unwrap();
        // Actix sees the good request, then the client "finishing".
        let mut buffer = [0u8; 4096];
        let mut seen = Vec::new();
        while seen.len() < GET.len() {
            let n = guarded.read(&mut buffer).await.unwrap();
            assert_ne!(n, 0, "the request before the malformed one arrives");
            seen.extend_from_slice(&buffer[..n]);
        }
        assert_eq!(seen, GET);
        assert_eq!(guarded.read(&mut buffer).await.unwrap(), 0);
        // Actix closes: the envelope goes out, then the connection ends.
        client.shutdown().await.unwrap();
        guarded.shutdown().await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("\r\nx-request-id: "), "{answer}");
        assert!(answer.ends_with("\"details\":{}}}"), "{answer}");
        assert!(answer.contains("\"code\":\"BAD_REQUEST\""), "{answer}");
    });
}

#[test]
fn a_request_line_without_end_is_too_long_not_malformed() {
    run(false, async {
        let (mut guarded, mut client) = guarded(Duration::from_secs(5));
        let line = [b"GET /".as_slice(), &vec![b'a'; 200 * 1024]].concat();
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&line).await;
            client
        });
        assert!(read_all(&mut guarded).await.len() < 200 * 1024);
        let mut client = writer.await.unwrap();
        guarded.shutdown().await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 414 "), "{answer}");
    });
}

#[test]
fn a_body_that_stops_arriving_ends_the_connection_at_the_deadline() {
    run(true, async {
        let (mut guarded, mut client) = guarded(Duration::from_millis(500));
        let head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 60000\r\n\r\nx";
        client.write_all(head).await.unwrap();
        let mut buffer = [0u8; 4096];
        let n = guarded.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..n], head);
        // The client holds the connection open and sends nothing more: with the
        // clock paused, the read returns only once the deadline has fired.
        let started = tokio::time::Instant::now();
        assert_eq!(guarded.read(&mut buffer).await.unwrap(), 0);
        assert!(started.elapsed() >= Duration::from_millis(500));
        drop(client);
    });
}

#[test]
fn an_idle_kept_alive_connection_is_not_timed_between_messages() {
    run(true, async {
        let (mut guarded, mut client) = guarded(Duration::from_millis(500));
        client.write_all(GET).await.unwrap();
        let mut buffer = [0u8; 4096];
        let n = guarded.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..n], GET);
        // Nothing more for longer than the message timeout: no message is arriving,
        // so the guard does not end the connection (actix's keep-alive does that).
        let pending = tokio::time::timeout(Duration::from_secs(2), guarded.read(&mut buffer)).await;
        assert!(pending.is_err(), "still open after an idle wait");
        client.write_all(GET).await.unwrap();
        let n = guarded.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..n], GET);
    });
}
