//! HTTP as the tests speak it: OTLP/HTTP posts, API gets, gzip bodies, query encoding.

use std::io::Write;

use serde_json::Value;

/// POSTs `body` with these headers; the error is the caller's to judge (a TLS listener refuses
/// plaintext, a stopped receiver refuses the connection).
pub async fn post_with(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let mut request = client.post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await
}

/// POSTs a body to an OTLP/HTTP endpoint with its content type and, if given, encoding.
pub async fn post(
    url: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut headers = vec![("content-type", content_type.to_string())];
    headers.extend(encoding.map(|e| ("content-encoding", e.to_string())));
    post_with(&reqwest::Client::new(), url, &headers, body)
        .await
        .expect("request sent")
}

/// POSTs protobuf bodies to an OTLP/HTTP traces URL, each answered 200.
pub async fn post_traces(url: &str, bodies: &[Vec<u8>]) {
    for body in bodies {
        let response = post(url, "application/x-protobuf", None, body.clone()).await;
        assert_eq!(response.status(), 200);
    }
}

/// Gzip of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET → (status, headers, body as JSON or a string).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The string at `key` of each element of a JSON array (panics on anything else: a test
/// asserts on the list).
pub fn strings<'a>(array: &'a Value, key: &str) -> Vec<&'a str> {
    array
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| {
            e[key]
                .as_str()
                .unwrap_or_else(|| panic!("no string {key} in {e}"))
        })
        .collect()
}

/// The value of metric `name` (a sample's name and, if any, its labels as written, e.g.
/// `m_total{reason="x"}`) in a `/metrics` answer of the API at `api`; `None` when it has none.
pub async fn metric(api: std::net::SocketAddr, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{api}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
