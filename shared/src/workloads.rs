//! The two kinds of work the chapter contrasts (section 1.2): CPU-bound work that keeps a core busy
//! (the book's naive recursive Fibonacci) and I/O-bound work that mostly waits (an HTTP request).
//!
//! [`Target`] decides where the I/O-bound work goes: the embedded [`SlowServer`] by default,
//! or a `--url` the learner gives.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::Url;

use crate::server::SlowServer;

/// How long a request may take before we call it a failure (the slowest route takes 60 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long connecting may take: an unreachable host fails fast instead of hanging.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The book's naive recursive Fibonacci (listing 1.5): `fib(1) = 0`, `fib(2) = 1`, and every call
/// below makes two more, so the work doubles with each step of `n`. `fib(0)` is 0.
///
/// ```
/// use shared::workloads::fib;
/// assert_eq!([fib(1), fib(2), fib(3), fib(10), fib(30)], [0, 1, 1, 34, 514229]);
/// ```
pub fn fib(n: u32) -> u64 {
    match n {
        0 | 1 => 0,
        2 => 1,
        _ => fib(n - 1) + fib(n - 2),
    }
}

/// An async HTTP client for many concurrent requests: no proxy for loopback, no cap on pooled
/// connections, and timeouts so that a dead host gives an error instead of a hang.
///
/// ```
/// let client = shared::workloads::http_client(&"http://127.0.0.1:1/".parse().unwrap()).unwrap();
/// # drop(client);
/// ```
pub fn http_client(target: &Url) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(usize::MAX);
    if is_loopback(target) {
        builder = builder.no_proxy();
    }
    builder.build().context("could not build the HTTP client")
}

/// The blocking twin of [`http_client`], for code without a runtime (it runs its own).
/// Must not be created or dropped inside an async task.
///
/// ```
/// let client = shared::workloads::blocking_http_client(&"http://127.0.0.1:1/".parse().unwrap()).unwrap();
/// # drop(client);
/// ```
pub fn blocking_http_client(target: &Url) -> anyhow::Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT);
    if is_loopback(target) {
        builder = builder.no_proxy();
    }
    builder.build().context("could not build the HTTP client")
}

/// Sends `GET url`, reads the whole body and returns the status code: the I/O-bound work of
/// section 1.2. Fails with the URL in the message when the server cannot be reached.
///
/// ```
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// let server = shared::server::SlowServer::start().unwrap();
/// let url: reqwest::Url = server.delay_url(5).parse().unwrap();
/// let client = shared::workloads::http_client(&url).unwrap();
/// let status = rt.block_on(shared::workloads::fetch(&client, &url)).unwrap();
/// assert_eq!(status, 200);
/// ```
pub async fn fetch(client: &reqwest::Client, url: &Url) -> anyhow::Result<u16> {
    let response = client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("request to {url} failed"))?;
    let status = response.status().as_u16();
    response
        .bytes()
        .await
        .with_context(|| format!("reading the answer from {url} failed"))?;
    Ok(status)
}

/// The blocking twin of [`fetch`].
///
/// ```
/// let server = shared::server::SlowServer::start().unwrap();
/// let url: reqwest::Url = server.delay_url(5).parse().unwrap();
/// let client = shared::workloads::blocking_http_client(&url).unwrap();
/// assert_eq!(shared::workloads::fetch_blocking(&client, &url).unwrap(), 200);
/// ```
pub fn fetch_blocking(client: &reqwest::blocking::Client, url: &Url) -> anyhow::Result<u16> {
    let response = client
        .get(url.clone())
        .send()
        .with_context(|| format!("request to {url} failed"))?;
    let status = response.status().as_u16();
    response
        .bytes()
        .with_context(|| format!("reading the answer from {url} failed"))?;
    Ok(status)
}

/// Where a demo's requests go: the embedded slow server (which also counts requests in flight),
/// or a URL from `--url`.
///
/// ```
/// let target = shared::workloads::Target::new(None, 100).unwrap();
/// assert!(target.url().path().ends_with("/delay/100"));
/// assert_eq!(target.max_in_flight(), Some(0));
/// ```
#[derive(Debug)]
pub struct Target {
    url: Url,
    server: Option<SlowServer>,
}

impl Target {
    /// With `url`, checks that it can be reached and uses it as it is; without, starts the
    /// embedded server and uses its `/delay/{delay_ms}` route.
    ///
    /// ```
    /// let unreachable: reqwest::Url = "http://127.0.0.1:1/".parse().unwrap();
    /// let error = shared::workloads::Target::new(Some(&unreachable), 100).unwrap_err();
    /// assert!(format!("{error:#}").contains("cannot reach"));
    /// ```
    pub fn new(url: Option<&Url>, delay_ms: u64) -> anyhow::Result<Self> {
        match url {
            Some(url) => {
                check_reachable(url)?;
                Ok(Self {
                    url: url.clone(),
                    server: None,
                })
            }
            None => {
                let server = SlowServer::start()?;
                let url = server
                    .delay_url(delay_ms)
                    .parse()
                    .context("the slow server's URL did not parse")?;
                Ok(Self {
                    url,
                    server: Some(server),
                })
            }
        }
    }

    /// The URL every request goes to.
    ///
    /// ```
    /// let target = shared::workloads::Target::new(None, 0).unwrap();
    /// assert_eq!(target.url().scheme(), "http");
    /// ```
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The embedded server, when the requests go to it.
    ///
    /// ```
    /// assert!(shared::workloads::Target::new(None, 0).unwrap().server().is_some());
    /// ```
    pub fn server(&self) -> Option<&SlowServer> {
        self.server.as_ref()
    }

    /// True when the requests go to the embedded server.
    ///
    /// ```
    /// assert!(shared::workloads::Target::new(None, 0).unwrap().is_local());
    /// ```
    pub fn is_local(&self) -> bool {
        self.server.is_some()
    }

    /// The server's highest count of requests in flight since the last [`reset`](Self::reset);
    /// `None` for a `--url` (a remote server does not tell us).
    ///
    /// ```
    /// assert_eq!(shared::workloads::Target::new(None, 0).unwrap().max_in_flight(), Some(0));
    /// ```
    pub fn max_in_flight(&self) -> Option<u64> {
        self.server.as_ref().map(SlowServer::max_in_flight)
    }

    /// Starts a new measurement on the embedded server (no effect for a `--url`).
    ///
    /// ```
    /// shared::workloads::Target::new(None, 0).unwrap().reset();
    /// ```
    pub fn reset(&self) {
        if let Some(server) = &self.server {
            server.reset();
        }
    }
}

/// Connects to the URL's host and port (a TCP handshake, no HTTP), so that a wrong `--url` fails at
/// once with a clear message instead of after the first of many requests.
///
/// ```
/// let url: reqwest::Url = "http://127.0.0.1:1/".parse().unwrap();
/// assert!(shared::workloads::check_reachable(&url).is_err());
/// ```
pub fn check_reachable(url: &Url) -> anyhow::Result<()> {
    let host = url
        .host_str()
        .with_context(|| format!("cannot reach {url}: it has no host"))?;
    let port = url
        .port_or_known_default()
        .with_context(|| format!("cannot reach {url}: unknown port"))?;
    let addrs: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot reach {url}: could not resolve {host}"))?
        .collect();
    let mut last_error = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => last_error = Some(error),
        }
    }
    match last_error {
        Some(error) => Err(error).with_context(|| format!("cannot reach {url}")),
        None => bail!("cannot reach {url}: {host} has no address"),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_matches(['[', ']']);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
