//! Section 1.7: an HTTP/1.1 GET written by hand on the loop's own sockets, so the `requests` demo
//! runs without any tokio code at all. One request per connection (`Connection: close`), the
//! answer parsed with httparse.

use std::net::SocketAddr;

use anyhow::{Context as _, bail, ensure};

use crate::event_loop::TcpStream;

/// Answers larger than this are refused (the demo's answers are a few hundred bytes).
const MAX_RESPONSE: usize = 1024 * 1024;
const MAX_HEADERS: usize = 32;

/// Where a GET goes: the socket address to connect to, and the Host header and path to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The server's address (resolved before the loop starts: DNS would block).
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The path and query, e.g. `/delay/500`.
    pub path: String,
}

impl Request {
    /// From an `http://` URL. `https` needs TLS, which the hand-built client does not speak.
    ///
    /// ```
    /// let url = "http://127.0.0.1:8080/delay/5".parse().unwrap();
    /// let request = ch01_event_loop::http::Request::from_url(&url).unwrap();
    /// assert_eq!(request.path, "/delay/5");
    /// assert!(ch01_event_loop::http::Request::from_url(&"https://example.com".parse().unwrap()).is_err());
    /// ```
    pub fn from_url(url: &reqwest::Url) -> anyhow::Result<Self> {
        if url.scheme() != "http" {
            bail!("the hand-built HTTP client speaks plain http only, not {url}");
        }
        let name = url.host_str().context("the URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(name, port))
            .with_context(|| format!("cannot resolve {name}"))?
            .next()
            .with_context(|| format!("{name} has no address"))?;
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().into(),
        };
        // The Host header names the port only when the URL does.
        let host = url
            .port()
            .map_or(name.into(), |port| format!("{name}:{port}"));
        Ok(Self { addr, host, path })
    }
}

/// Sends one GET and returns the status code once the whole body has arrived.
pub async fn get(request: &Request) -> anyhow::Result<u16> {
    let stream = TcpStream::connect(request.addr)
        .await
        .with_context(|| format!("cannot connect to {}", request.addr))?;
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ch01-event-loop\r\nConnection: close\r\n\r\n",
        request.path, request.host
    );
    stream.write_all(head.as_bytes()).await?;

    let mut response = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        response.extend_from_slice(&chunk[..n]);
        if let Some(status) = complete_response(&response, n == 0)? {
            return Ok(status);
        }
        ensure!(n > 0, "the server closed the connection mid-answer");
        if response.len() > MAX_RESPONSE {
            bail!("the answer is larger than {MAX_RESPONSE} bytes");
        }
    }
}

/// The status code once `bytes` hold a whole answer (headers plus `Content-Length` bytes of body,
/// or everything up to end of stream when there is no length), `None` while more must come.
///
/// ```
/// use ch01_event_loop::http::complete_response;
/// let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
/// assert_eq!(complete_response(whole, false).unwrap(), Some(200));
/// assert_eq!(complete_response(&whole[..20], false).unwrap(), None);
/// assert_eq!(complete_response(&whole[..whole.len() - 1], false).unwrap(), None);
/// ```
pub fn complete_response(bytes: &[u8], at_eof: bool) -> anyhow::Result<Option<u16>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes).context("malformed HTTP answer")? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.context("HTTP answer without a status")?;
    let mut headers = response.headers.iter();
    let length = headers.find(|header| header.name.eq_ignore_ascii_case("content-length"));
    let parse = |value| -> Option<usize> { std::str::from_utf8(value).ok()?.trim().parse().ok() };
    let complete = match length.map(|header| parse(header.value)) {
        Some(None) => bail!("malformed Content-Length"),
        Some(Some(length)) => bytes.len() >= head_len + length,
        None => at_eof,
    };
    Ok(complete.then_some(status))
}
