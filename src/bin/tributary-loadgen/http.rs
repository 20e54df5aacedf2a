//! OTLP/HTTP over a hand-written HTTP/1.1 keep-alive client: the request head is a few bytes
//! beside a pre-encoded body, so the generator costs little next to the agent.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::Outcome;

pub struct HttpSender {
    endpoint: String,
    path: &'static str,
    content_type: &'static str,
    stream: Option<BufReader<TcpStream>>,
}

impl HttpSender {
    pub fn new(endpoint: &str, path: &'static str, content_type: &'static str) -> HttpSender {
        HttpSender {
            endpoint: endpoint.to_string(),
            path,
            content_type,
            stream: None,
        }
    }

    pub async fn send(&mut self, body: &[u8]) -> Outcome {
        let stream = match self.stream.as_mut() {
            Some(stream) => stream,
            None => match TcpStream::connect(&self.endpoint).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    self.stream.insert(BufReader::new(stream))
                }
                Err(_) => return Outcome::Unreachable,
            },
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            self.path,
            self.endpoint,
            self.content_type,
            body.len()
        );
        let exchange = async {
            stream.get_mut().write_all(head.as_bytes()).await?;
            stream.get_mut().write_all(body).await?;
            read_status(stream).await
        };
        match exchange.await {
            Ok(200) => Outcome::Accepted,
            Ok(429 | 503) => {
                // The agent may refuse before reading the body; start clean.
                self.stream = None;
                Outcome::Refused
            }
            Ok(_) => Outcome::Failed,
            Err(_) => {
                self.stream = None;
                Outcome::Failed
            }
        }
    }
}

/// Reads one response, returning its status; the body is read and dropped.
async fn read_status(stream: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::other("closed"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}
