//! `vario health`: asks a running server's `GET /healthz` and exits 0 only on 200, for
//! container health checks and service monitors on machines without curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use crate::commands::serve::{DEFAULT_LISTEN, env};
use crate::exit_code;

/// The URL of the address `vario serve` listens on in this environment: a server on all
/// interfaces (`0.0.0.0`, `::`) is asked over loopback.
fn listen_url() -> String {
    let listen = std::env::var(env::LISTEN).ok();
    let addr: SocketAddr = listen
        .as_deref()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))));
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// `vario health` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's base URL [default: the address of VARIO_LISTEN, else http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub timeout: u64,
}

/// Prints the server's answer; exit status 0 when healthy, 1 otherwise.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(args.timeout.max(1))))
        .build()
        .into();
    let base = args.url.clone().unwrap_or_else(listen_url);
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    match agent.get(&url).call() {
        Ok(mut answer) => {
            let status = answer.status().as_u16();
            let body = answer.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
            println!("{url}: {status} {}", body.trim());
            Ok(if status == 200 { ExitCode::SUCCESS } else { exit_code::FAILURE.into() })
        }
        Err(error) => {
            println!("{url}: {error}");
            Ok(exit_code::FAILURE.into())
        }
    }
}
