//! The HTTP request path never panics and never answers 500: any bytes sent on a
//! connection go through hyper's parser and the whole router (events, datafiles, the
//! admin API, the pages, the limits of the edge) of a server over a temporary data
//! directory. Every error answer that has a body is the JSON error shape.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vario_server::{AppState, ServerConfig};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path());
        config.admin_token = Some("fuzz-admin-token-0123456789".into());
        let (state, _) = AppState::open(config).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Fixture { runtime, app: vario_server::router(state), _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let output = fixture.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let app = fixture.app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut app = app.clone();
            tower_service::Service::call(&mut app, request)
        });
        let connection = tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(server), service),
        );
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut output = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut output)).await;
        connection.abort();
        output
    });
    let text = String::from_utf8_lossy(&output);
    for head in text.split("HTTP/1.1 ").skip(1) {
        let status: u16 = head.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(status != 500, "a 500 for {:?}:\n{text}", String::from_utf8_lossy(data));
    }
});
