//! HTTP/1.1 spoken byte by byte, for requests no client library would build: invalid request
//! lines, bare carriage returns in headers, bodies cut short, bytes that are not UTF-8 anywhere.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound on one exchange, so that a server that never answers fails the test instead of
/// hanging it; not an assertion on how fast it answers.
const EXCHANGE_BOUND: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Names lowercased, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Writes `request` as it is, then (with `half_close`) ends the sending side, and reads the
/// answer until the server closes the connection.
pub async fn exchange(addr: SocketAddr, request: &[u8], half_close: bool) -> RawResponse {
    tokio::time::timeout(EXCHANGE_BOUND, async {
        let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
        stream
            .write_all(request)
            .await
            .expect("the request is sent");
        if half_close {
            stream.shutdown().await.expect("the sending side closes");
        }
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .expect("the answer is read");
        parse(&answer)
    })
    .await
    .expect("the server answers and closes the connection")
}

/// A request with `Connection: close` and a `Content-Length` matching `body`; `head` holds the
/// request line and the other header lines, each ending with CRLF.
pub fn request(head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(
        format!(
            "Host: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    bytes.extend_from_slice(body);
    bytes
}

fn parse(answer: &[u8]) -> RawResponse {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| {
            (
                name.trim().to_ascii_lowercase(),
                value.trim().as_bytes().to_vec(),
            )
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: answer[end + 4..].to_vec(),
    }
}
