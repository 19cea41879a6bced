//! A tiny HTTP server for the client's tests: it answers the connections it gets, one each,
//! with canned responses in order, and records what was asked. It knows HTTP, not Roster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A response to give.
#[derive(Debug, Clone)]
pub struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Canned {
    pub fn text(status: u16, content_type: &str, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn json(status: u16, content_type: &str, body: &serde_json::Value) -> Canned {
        Canned::text(status, content_type, &body.to_string())
    }

    /// An admin API error: RFC 9457 problem details.
    pub fn problem(status: u16, detail: &str) -> Canned {
        let body = serde_json::json!({
            "type": "about:blank", "title": "Error", "status": status, "detail": detail,
        });
        Canned::json(status, "application/problem+json", &body)
    }

    pub fn ok(body: &serde_json::Value) -> Canned {
        Canned::json(200, "application/json", body)
    }

    pub fn no_content() -> Canned {
        Canned { status: 204, headers: vec![], body: vec![] }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request the server was sent.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target: path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The server: it stops listening once every canned response has been given.
pub struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(responses: Vec<Canned>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        std::thread::spawn(move || {
            for canned in responses {
                let Ok((stream, _)) = listener.accept() else { return };
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut reader = BufReader::new(stream);
                let Some(request) = read_request(&mut reader) else { continue };
                recorded.lock().unwrap().push(request);
                let mut stream = reader.into_inner();
                let _ = stream.write_all(&render(&canned));
                let _ = stream.flush();
            }
        });
        Server { addr, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn request(&self, index: usize) -> Seen {
        self.requests().get(index).cloned().unwrap_or_else(|| panic!("no request #{index}"))
    }
}

fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen { method, path, headers, body })
}

fn render(canned: &Canned) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {} Canned\r\n", canned.status);
    for (name, value) in &canned.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", canned.body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(&canned.body);
    out
}
