//! The two kinds of work the chapter contrasts (section 1.2): CPU-bound work that keeps a core busy
//! (the book's naive recursive Fibonacci) and I/O-bound work that mostly waits (an HTTP request,
//! to the embedded [`SlowServer`] or a `--url`: see [`Target`]).

use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Url;

use crate::server::SlowServer;

/// How long a request may take before we call it a failure (the slowest route takes 60 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long connecting may take: an unreachable host fails fast instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Makes `ring` the TLS crypto provider, once: call it before building any `reqwest` client
/// (reqwest is built without aws-lc, its slow-to-build default, and panics with no provider).
pub fn use_ring_for_tls() {
    // Err only when a provider is already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An async or a blocking client: no proxy for loopback, timeouts so a dead host is an error.
macro_rules! client {
    ($builder:expr, $target:expr) => {{
        use_ring_for_tls();
        let builder = $builder
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        let builder = if is_loopback($target) {
            builder.no_proxy()
        } else {
            builder
        };
        builder.build().context("could not build the HTTP client")
    }};
}

/// An async HTTP client for many concurrent requests (no cap on pooled connections).
pub fn http_client(target: &Url) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder().pool_max_idle_per_host(usize::MAX);
    client!(builder, target)
}

/// The blocking twin of [`http_client`] (it runs its own runtime: not inside an async task).
pub fn blocking_http_client(target: &Url) -> anyhow::Result<reqwest::blocking::Client> {
    client!(reqwest::blocking::Client::builder(), target)
}

/// `GET url` with an async client (`.await` given) or a blocking one (nothing given).
macro_rules! get {
    ($client:expr, $url:expr, $($await:tt)*) => {{
        let url = $url;
        let sent = $client.get(url.clone()).send()$($await)*;
        let response = sent.with_context(|| format!("request to {url} failed"))?;
        let status = response.status().as_u16();
        let body = response.bytes()$($await)*;
        body.with_context(|| format!("reading the answer from {url} failed"))?;
        Ok(status)
    }};
}

/// `GET url`, the whole body read, and its status: section 1.2's I/O-bound work (errors name it).
pub async fn fetch(client: &reqwest::Client, url: &Url) -> anyhow::Result<u16> {
    get!(client, url, .await)
}

/// The blocking twin of [`fetch`].
pub fn fetch_blocking(client: &reqwest::blocking::Client, url: &Url) -> anyhow::Result<u16> {
    get!(client, url,)
}

/// Where a demo's requests go: the embedded slow server (counting requests in flight) or `--url`.
#[derive(Debug)]
pub struct Target {
    url: Url,
    server: Option<SlowServer>,
}

impl Target {
    /// With `url`, checks that it can be reached and uses it as it is; without, starts the
    /// embedded server and uses its `/delay/{delay_ms}` route.
    pub fn new(url: Option<&Url>, delay_ms: u64) -> anyhow::Result<Self> {
        let (url, server) = match url {
            Some(url) => (check_reachable(url).map(|()| url.clone())?, None),
            None => {
                let server = SlowServer::start()?;
                (server.delay_url(delay_ms).parse()?, Some(server))
            }
        };
        Ok(Self { url, server })
    }

    /// The URL every request goes to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The embedded server, when the requests go to it.
    pub fn server(&self) -> Option<&SlowServer> {
        self.server.as_ref()
    }

    /// True when the requests go to the embedded server.
    pub fn is_local(&self) -> bool {
        self.server.is_some()
    }

    /// The server's most requests in flight since [`reset`](Self::reset); `None` for a `--url`.
    pub fn max_in_flight(&self) -> Option<u64> {
        self.server.as_ref().map(SlowServer::max_in_flight)
    }

    /// Starts a new measurement on the embedded server (no effect for a `--url`).
    pub fn reset(&self) {
        if let Some(server) = &self.server {
            server.reset();
        }
    }
}

/// A TCP handshake with the URL's host, so a wrong `--url` fails at once with a clear message.
pub fn check_reachable(url: &Url) -> anyhow::Result<()> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        anyhow::bail!("cannot reach {url}: no host or no known port");
    };
    let addrs = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot reach {url}: could not resolve {host}"))?;
    let mut outcome = Err(std::io::Error::other(format!("{host} has no address")));
    for addr in addrs {
        outcome = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map(drop);
        if outcome.is_ok() {
            break;
        }
    }
    outcome.with_context(|| format!("cannot reach {url}"))
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
