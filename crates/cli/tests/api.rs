//! The local API of a running `tally serve`, against its OpenAPI document
//! (spec/api.openapi.json): every documented route is served, every
//! failure is a problem document, the answers have the documented fields,
//! and the TCP listener wants the bearer token.

mod common;

use std::io::{Read, Write};

use common::{Federation, path, serve};
use serde_json::Value;
use tally_node::api::{Client, Problem, ProblemCode};

fn document() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/api.openapi.json"))
        .expect("spec/api.openapi.json");
    serde_json::from_str(&text).expect("JSON")
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("binds").local_addr().expect("addr").port()
}

/// One HTTP/1.1 request over TCP; the status and the body.
fn tcp(port: u16, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.write_all(request.as_bytes()).expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[test]
fn every_documented_route_is_served_and_every_failure_is_a_problem_document() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let tax = fed.dir("tax-bureau");
    let port = free_tcp_port();
    let config = tax.join("tally.toml");
    let old = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("api = \"127.0.0.1:{port}\"\n{old}")).expect("writes");
    let _node = serve(&tax);
    let doc = document();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let client = Client::new(&tax);
    let zeros = "0".repeat(64);
    for (route, operations) in doc["paths"].as_object().expect("paths") {
        let uri = route.replace("{grant}", &zeros).replace("{packet}", &zeros[..32]);
        for method in operations.as_object().expect("operations").keys() {
            let method: hyper::Method = method.to_uppercase().parse().expect("a method");
            let (status, body) =
                runtime.block_on(client.raw(method.clone(), &uri, b"{}".to_vec())).expect("the node answers");
            if (200..300).contains(&status) {
                continue;
            }
            let problem: Problem = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{method} {uri}: HTTP {status} is not a problem document ({e})"));
            assert_eq!(problem.status, status, "{method} {uri}");
            assert!(!problem.detail.starts_with("no such route"), "{method} {uri} is documented but not served");
        }
    }
    // An undocumented route is a not-found problem.
    let (status, body) = runtime.block_on(client.raw(hyper::Method::GET, "/v1/nothing", Vec::new())).expect("answers");
    let problem: Problem = serde_json::from_slice(&body).expect("a problem document");
    assert_eq!((status, problem.code), (404, ProblemCode::NotFound));
    // A send without its flow is a bad request, named as such.
    let (status, body) = runtime.block_on(client.raw(hyper::Method::POST, "/v1/sends", Vec::new())).expect("answers");
    let problem: Problem = serde_json::from_slice(&body).expect("a problem document");
    assert_eq!((status, problem.code), (400, ProblemCode::BadRequest), "{}", problem.detail);

    // The status answer has exactly the documented fields.
    let (_, body) = runtime.block_on(client.raw(hyper::Method::GET, "/v1/status", Vec::new())).expect("answers");
    let status: Value = serde_json::from_slice(&body).expect("JSON");
    let fields: Vec<&String> = status.as_object().expect("an object").keys().collect();
    let documented: Vec<&String> =
        doc["components"]["schemas"]["Status"]["properties"].as_object().expect("properties").keys().collect();
    let (mut fields, mut documented) = (fields, documented);
    fields.sort();
    documented.sort();
    assert_eq!(fields, documented);

    // Over TCP, the token is required; with it the API answers.
    let (status, body) = tcp(port, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let problem: Problem = serde_json::from_str(&body).expect("a problem document");
    assert_eq!((status, problem.code), (401, ProblemCode::Unauthorized));
    let (status, _) =
        tcp(port, "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 401);
    let token = std::fs::read_to_string(tax.join(tally_node::api::TOKEN_FILE)).expect("the token file was made");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(tax.join("api.token")).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600, "the token is the owner's only");
    let request = format!(
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.trim()
    );
    let (status, body) = tcp(port, &request);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"agency\":\"tax-bureau\""), "{body}");
    let socket = tax.join(tally_node::api::SOCKET_FILE);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", path(&socket));
}

#[test]
fn a_client_keeps_its_connection_and_reconnects_when_the_node_restarts() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let tax = fed.dir("tax-bureau");
    let node = serve(&tax);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let client = Client::new(&tax);
    runtime.block_on(client.status()).expect("the node answers");
    // With the socket file gone no new connection can be made: these calls
    // are answered on the connection the client kept.
    let socket = tax.join("api.sock");
    let kept = tax.join("api.sock.kept");
    std::fs::rename(&socket, &kept).expect("moves the socket file");
    for _ in 0..20 {
        runtime.block_on(client.status()).expect("answered on the kept connection");
    }
    assert!(
        matches!(runtime.block_on(Client::new(&tax).status()), Err(tally_node::api::ClientError::NotRunning { .. })),
        "a new client cannot connect"
    );
    std::fs::rename(&kept, &socket).expect("moves it back");
    // The node goes away with the kept connection; the next call opens a new one.
    drop(node);
    let _node = serve(&tax);
    let status = runtime.block_on(client.status()).expect("answered on a new connection");
    assert_eq!(status.agency.as_str(), "tax-bureau");
}
