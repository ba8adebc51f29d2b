//! Accepting connections within limits: at most a fixed number open at once (the next
//! ones get a short 503 and are closed), a request head must arrive within the header
//! timeout (so idle keep-alive and half-sent connections are closed), and file
//! descriptors are kept for storage. Stops accepting at shutdown and lets open
//! connections finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::Limits;

/// Refusals being written at once; past that a connection over the cap is closed at once.
const REFUSALS: usize = 64;

/// Raises the soft limit of open files to the hard limit, where the system allows it
/// (a process may always do so); the limit then in force.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            open_file_limit()
        }
    }
}

/// The soft limit of open files.
pub fn open_file_limit() -> u64 {
    rlimit::Resource::NOFILE.get().map_or(1024, |(soft, _)| soft)
}

/// The connection cap for `limits` under the current open-file limit: what is left after
/// the files kept for storage and for refusals.
pub fn connection_cap(limits: &Limits) -> usize {
    let files = usize::try_from(open_file_limit()).unwrap_or(usize::MAX);
    let left = files.saturating_sub(limits.reserved_file_descriptors + REFUSALS);
    let cap = limits.max_connections.min(left).max(1);
    tracing::info!(
        cap,
        open_file_limit = files,
        reserved = limits.reserved_file_descriptors,
        "most client connections open at once"
    );
    cap
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and
/// waits for the open connections to finish their requests (the caller bounds the wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = connection_cap(limits);
    let open = Arc::new(Semaphore::new(cap));
    let refusing = Arc::new(Semaphore::new(REFUSALS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout())
        // Heads up to this size reach the router, which answers past `max_header_bytes`
        // in the JSON error shape; hyper answers a bare 431 only beyond this.
        .max_buf_size((limits.max_header_bytes + limits.max_uri_bytes).max(8192) * 2)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            refuse(stream, &refusing);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            tower_service::Service::call(&mut router, request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The answer to a connection over the cap: the one JSON error shape, then close.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 111\r\n\r\n\
{\"error\":{\"code\":\"overloaded\",\"message\":\"the server has as many connections open as it allows; retry shortly\"}}";

fn refuse(mut stream: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(slot) = Arc::clone(refusing).try_acquire_owned() else { return };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(REFUSAL).await?;
            stream.shutdown().await?;
            // Read what the client sent until it closes: closing with unread data would
            // reset the connection before the client reads the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
        drop(slot);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_declares_its_length_and_is_the_json_error_shape() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "overloaded");
    }
}
