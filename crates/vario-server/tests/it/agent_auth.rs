//! Agent's JWT auth over a real socket: tokens signed with a configured HMAC secret that
//! list the environment open the Agent routes; missing, forged, expired or foreign
//! tokens are 401; `POST /oauth/token` issues tokens for client credentials.

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use vario_server::{AgentClientConfig, ServerConfig};

use crate::{ADMIN, Answer, TestServer, bytes, request};

const DATAFILE: &str = include_str!("../../../../spec/compat/05-feature-variables/datafile.json");
const KEY: &str = "jwt-env";
const SECRETS: [&[u8]; 2] = [b"first secret, signs issued tokens", b"second secret, still accepted"];
const CLIENT_SECRET: &[u8] = b"thirty-two random bytes of secret";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn configure(c: &mut ServerConfig) {
    c.agent.auth.hmac_secrets = SECRETS.iter().map(|s| b64(s)).collect();
    c.agent.auth.ttl_seconds = 600;
    c.agent.auth.clients = vec![AgentClientConfig {
        id: "checkout-service".into(),
        secret_hash: b64(bcrypt::hash(CLIENT_SECRET, 4).unwrap().as_bytes()),
        sdk_keys: vec![KEY.into()],
    }];
}

fn started() -> TestServer {
    let server = TestServer::with(configure);
    let url = format!("{}/api/v1/environments/{KEY}/datafile", server.url);
    let bearer = format!("Bearer {ADMIN}");
    assert_eq!(request("PUT", &url, &[("authorization", &bearer)], Some(DATAFILE.as_bytes())).status, 200);
    server
}

fn token(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::default(), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn in_an_hour() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600
}

fn decide(server: &TestServer, auth: &[(&str, &str)]) -> Answer {
    let mut headers = vec![("x-optimizely-sdk-key", KEY), ("content-type", "application/json")];
    headers.extend_from_slice(auth);
    request("POST", &format!("{}/v1/decide?keys=flag_1", server.url), &headers, Some(br#"{"userId": "u1"}"#))
}

fn refused(answer: &Answer) -> String {
    assert_eq!(answer.status, 401, "{answer:?}");
    answer.json()["error"].as_str().unwrap().to_owned()
}

#[test]
fn a_token_signed_with_a_configured_secret_that_lists_the_environment_opens_the_agent_routes() {
    let server = started();
    for secret in SECRETS {
        let good = token(secret, &json!({"sdk_keys": [KEY], "exp": in_an_hour()}));
        let answer = decide(&server, &[("authorization", &format!("Bearer {good}"))]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["flagKey"], "flag_1");
        assert_eq!(decide(&server, &[("jwt", &good)]).status, 200, "Agent also reads the Jwt header");
    }
    assert!(refused(&decide(&server, &[])).contains("empty token"));
    let forged = token(b"not a configured secret", &json!({"sdk_keys": [KEY], "exp": in_an_hour()}));
    assert!(refused(&decide(&server, &[("authorization", &format!("Bearer {forged}"))])).contains("unauthorized"));
    let expired = token(SECRETS[0], &json!({"sdk_keys": [KEY], "exp": 1_000_000}));
    assert_eq!(refused(&decide(&server, &[("authorization", &format!("Bearer {expired}"))])), "token expired");
    let no_exp = token(SECRETS[0], &json!({"sdk_keys": [KEY]}));
    assert_eq!(refused(&decide(&server, &[("authorization", &format!("Bearer {no_exp}"))])), "token expired");
    let other = token(SECRETS[0], &json!({"sdk_keys": ["other-env"], "exp": in_an_hour()}));
    assert!(refused(&decide(&server, &[("authorization", &format!("Bearer {other}"))])).contains("SDK key"));
    let no_keys = token(SECRETS[0], &json!({"exp": in_an_hour()}));
    assert!(refused(&decide(&server, &[("authorization", &format!("Bearer {no_keys}"))])).contains("sdk_keys"));

    // Every route that names an environment asks, batch operations included; health does not.
    let datafile = request("GET", &format!("{}/v1/datafile", server.url), &[("x-optimizely-sdk-key", KEY)], None);
    assert_eq!(datafile.status, 401);
    assert_eq!(request("GET", &format!("{}/health", server.url), &[], None).status, 200);
    let good = token(SECRETS[1], &json!({"sdk_keys": [KEY], "exp": in_an_hour()}));
    let ops = json!({"operations": [
        {"method": "POST", "url": "/v1/decide?keys=flag_1", "body": {"userId": "u1"},
         "headers": {"X-Optimizely-SDK-Key": KEY, "Authorization": format!("Bearer {good}")}},
        {"method": "POST", "url": "/v1/decide?keys=flag_1", "body": {"userId": "u1"},
         "headers": {"X-Optimizely-SDK-Key": KEY}},
    ]});
    let batch = request("POST", &format!("{}/v1/batch", server.url), &[], Some(&bytes(&ops))).json();
    assert_eq!(
        (batch["response"][0]["status"].as_u64(), batch["response"][1]["status"].as_u64()),
        (Some(200), Some(401))
    );
}

fn ask(server: &TestServer, content_type: &str, form: &str) -> Answer {
    request("POST", &format!("{}/oauth/token", server.url), &[("content-type", content_type)], Some(form.as_bytes()))
}

#[test]
fn oauth_token_issues_tokens_for_client_credentials_and_refuses_others_as_oauth_says() {
    let server = started();
    let form = |secret: &[u8]| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", "checkout-service")
            .append_pair("client_secret", &b64(secret))
            .finish()
    };
    let issued = ask(&server, "application/x-www-form-urlencoded", &form(CLIENT_SECRET));
    assert_eq!(issued.status, 200, "{}", issued.body);
    let issued = issued.json();
    assert_eq!((issued["token_type"].as_str(), issued["expires_in"].as_u64()), (Some("bearer"), Some(600)));
    let access = issued["access_token"].as_str().unwrap();
    assert_eq!(decide(&server, &[("authorization", &format!("Bearer {access}"))]).status, 200);

    let wrong = ask(&server, "application/x-www-form-urlencoded", &form(b"a guess"));
    assert_eq!((wrong.status, wrong.json()["error"].as_str()), (401, Some("invalid_client")));
    let json_body = ask(&server, "application/json", &form(CLIENT_SECRET));
    assert_eq!((json_body.status, json_body.json()["error"].as_str()), (415, Some("invalid_request")));
    let password = ask(&server, "application/x-www-form-urlencoded", "grant_type=password&client_id=a&client_secret=b");
    assert_eq!((password.status, password.json()), (400, json!({"error": "unsupported_grant_type"})));
    let unknown = ask(
        &server,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&client_id=x&client_secret=eA==",
    );
    assert_eq!(unknown.json()["error_description"], "invalid client_id or client_secret");
}

#[test]
fn auth_settings_that_cannot_work_stop_the_server_from_starting_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.agent.auth.hmac_secrets = vec!["not base64 at all!".into()];
    let error = vario_server::AppState::open(config).err().expect("refused").to_string();
    assert!(error.contains("agent.auth.hmac_secrets[0]"), "{error}");

    let mut config = ServerConfig::new(dir.path());
    configure(&mut config);
    config.agent.auth.hmac_secrets.clear();
    let error = vario_server::AppState::open(config).err().expect("refused").to_string();
    assert!(error.contains("agent.auth.clients need agent.auth.hmac_secrets"), "{error}");
}
