//! Agent's admin routes on their own listener: `/info`, `/config` (without secrets) and
//! `/metrics` with Agent's app headers, admin tokens from the admin `/oauth/token`, and
//! tokens without the admin claim refused.

use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use vario_server::{AgentClientConfig, ServerConfig};

use crate::{Answer, TestServer, request};

const SECRET: &[u8] = b"the admin listener's secret";
const CLIENT_SECRET: &[u8] = b"an operator's client secret";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The server and the admin listener's base URL (bound to a free port at start).
fn started(configure: impl FnOnce(&mut ServerConfig)) -> (TestServer, String) {
    let server = TestServer::with(|c| {
        c.agent.admin.listen = Some("127.0.0.1:0".parse().unwrap());
        configure(c);
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        if let Some(address) = server.state.admin_address() {
            break address;
        }
        assert!(Instant::now() < deadline, "the admin listener did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    (server, format!("http://{address}"))
}

fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    request("GET", url, headers, None)
}

#[test]
fn info_config_and_metrics_answer_with_agents_app_headers_and_config_hides_secrets() {
    let (server, admin) = started(|c| {
        c.events.write_keys.insert("12002".into(), "write-key-that-must-not-show".into());
        c.agent.auth.hmac_secrets = vec![b64(b"an api secret that must not show")];
    });
    let info = get(&format!("{admin}/info"), &[]);
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(info.header("app-name"), Some("vario"));
    assert_eq!(info.header("author"), Some("Vario"));
    assert_eq!(info.header("app-version"), Some(env!("CARGO_PKG_VERSION")));
    let info = info.json();
    assert_eq!(info["app_name"], "vario");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["uptime"].as_str().is_some_and(|u| u.ends_with('s')), "{info}");

    let config = get(&format!("{admin}/config"), &[]);
    assert_eq!(config.status, 200);
    assert!(!config.body.contains("write-key-that-must-not-show"), "{}", config.body);
    assert!(!config.body.contains(&b64(b"an api secret that must not show")), "{}", config.body);
    assert!(!config.body.contains(crate::ADMIN), "{}", config.body);
    let config = config.json();
    assert_eq!(config["events"]["write_keys"], json!(["12002"]));
    assert_eq!(config["agent"]["admin"]["listen"], "127.0.0.1:0");
    assert_eq!(config["limits"]["max_connections"], server.state.config().limits.max_connections);

    let metrics = get(&format!("{admin}/metrics"), &[]);
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    assert!(metrics.body.contains("# TYPE"), "{}", metrics.body);

    let missing = get(&format!("{admin}/v1/decide"), &[]);
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());
    // The admin routes are not on the API's listener.
    assert_eq!(get(&format!("{}/info", server.url), &[]).status, 404);
}

#[test]
fn with_admin_auth_the_admin_routes_need_a_token_with_the_admin_claim() {
    let (_server, admin) = started(|c| {
        c.agent.admin.auth.hmac_secrets = vec![b64(SECRET)];
        c.agent.admin.auth.clients = vec![AgentClientConfig {
            id: "operator".into(),
            secret_hash: b64(bcrypt::hash(CLIENT_SECRET, 4).unwrap().as_bytes()),
            sdk_keys: Vec::new(),
        }];
    });
    for route in ["/info", "/config", "/metrics"] {
        let refused = get(&format!("{admin}{route}"), &[]);
        assert_eq!(refused.status, 401, "{route}: {refused:?}");
        assert!(refused.json()["error"].is_string());
    }
    let form = format!("grant_type=client_credentials&client_id=operator&client_secret={}", b64(CLIENT_SECRET));
    let issued = request(
        "POST",
        &format!("{admin}/oauth/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    );
    assert_eq!(issued.status, 200, "{issued:?}");
    let token = issued.json()["access_token"].as_str().unwrap().to_owned();
    for route in ["/info", "/config", "/metrics"] {
        assert_eq!(get(&format!("{admin}{route}"), &[("authorization", &format!("Bearer {token}"))]).status, 200);
    }
    // Signed with the right secret but without the admin claim: an API token.
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let api_token = jsonwebtoken::encode(
        &Header::default(),
        &json!({"sdk_keys": ["some-env"], "exp": exp}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let refused = get(&format!("{admin}/info"), &[("authorization", &format!("Bearer {api_token}"))]);
    assert_eq!(refused.status, 401, "{refused:?}");
}

#[test]
fn admin_clients_need_no_sdk_keys_but_api_clients_do() {
    let hash = b64(bcrypt::hash(CLIENT_SECRET, 4).unwrap().as_bytes());
    let client = AgentClientConfig { id: "ops".into(), secret_hash: hash, sdk_keys: Vec::new() };
    let mut config = ServerConfig::new(tempfile::tempdir().unwrap().path());
    config.agent.auth.hmac_secrets = vec![b64(SECRET)];
    config.agent.auth.clients = vec![client.clone()];
    let error = vario_server::AppState::open(config).err().expect("an API client without sdk_keys is refused");
    assert!(error.to_string().contains("agent.auth.clients[0] needs an id and sdk_keys"), "{error}");
    let mut config = ServerConfig::new(tempfile::tempdir().unwrap().path());
    config.agent.admin.auth.clients = vec![client];
    let error = vario_server::AppState::open(config).err().expect("clients without secrets are refused");
    assert!(error.to_string().contains("agent.admin.auth.clients need agent.admin.auth.hmac_secrets"), "{error}");
}
