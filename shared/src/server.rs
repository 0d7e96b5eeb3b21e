//! The embedded slow HTTP server, "the internet" of every demo that makes requests (sections 1.1,
//! 1.2, 1.5, 1.7). On 127.0.0.1 and a port the OS picks, it answers `GET /delay/{ms}` (0 to 60000)
//! after that many milliseconds (bad input: 400, 404 or 405 at once) and counts the requests it
//! handles at once: ten "concurrent" requests are only concurrent if it saw ten in flight.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::fdlimit;

/// The longest delay `/delay/{ms}` accepts.
const MAX_DELAY_MS: u64 = 60_000;
/// Pending connections the kernel may queue before we accept them (Linux caps it at somaxconn).
const BACKLOG: u32 = 4096;

/// A running slow server; stops when dropped.
#[derive(Debug)]
pub struct SlowServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
    /// Dropping the sender ends the server's thread, and with its runtime every open connection.
    stop: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    said_out_of_fds: AtomicBool,
}

/// One request in flight until dropped, also when a client hangs up and hyper drops the handler.
struct InFlight(Arc<Counters>);

impl InFlight {
    fn enter(counters: &Arc<Counters>) -> Self {
        counters.requests.fetch_add(1, Ordering::SeqCst);
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(counters))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SlowServer {
    /// Starts it on its own thread and single-threaded runtime: it works from any code alike.
    pub fn start() -> anyhow::Result<Self> {
        fdlimit::raise_to_hard_limit();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = listen(&runtime).context("the slow server could not listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = accept_loop(listener, Arc::clone(&counters));
        let thread = std::thread::Builder::new()
            .name("slow-server".into())
            .spawn(move || {
                // Serve until the owner drops us; dropping the runtime then closes every connection.
                runtime.block_on(async {
                    tokio::select! { () = serving => {}, _ = stopped => {} }
                })
            })
            .context("could not start the slow server's thread")?;
        let stop = Some((stop, thread));
        Ok(Self {
            addr,
            counters,
            stop,
        })
    }

    /// The address it listens on (127.0.0.1 and an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL that answers after `ms` milliseconds.
    pub fn delay_url(&self, ms: u64) -> String {
        format!("{}/delay/{ms}", self.url())
    }

    /// Requests received since start or the last [`reset`](Self::reset).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> u64 {
        self.counters.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests handled at once since start or the last [`reset`](Self::reset).
    pub fn max_in_flight(&self) -> u64 {
        self.counters.max_in_flight.load(Ordering::SeqCst)
    }

    /// Starts a new measurement: no requests yet, and as many at most in flight as now.
    pub fn reset(&self) {
        self.counters.requests.store(0, Ordering::SeqCst);
        let now = self.counters.in_flight.load(Ordering::SeqCst);
        self.counters.max_in_flight.store(now, Ordering::SeqCst);
    }
}

/// A listener on 127.0.0.1, on `runtime`: entering (not blocking on) it works inside another one.
fn listen(runtime: &tokio::runtime::Runtime) -> std::io::Result<TcpListener> {
    let _inside = runtime.enter();
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    socket.listen(BACKLOG)
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.stop.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, counters: Arc<Counters>) {
    // Owning the connections here means dropping this future closes them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let counters = Arc::clone(&counters);
                    let service = service_fn(move |request| answer(request, Arc::clone(&counters)));
                    // A client that disconnects half-way ends only its own connection.
                    let io = TokioIo::new(stream);
                    connections.spawn(http1::Builder::new().serve_connection(io, service));
                }
                Err(error) => on_accept_error(&error, &counters).await,
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn on_accept_error(error: &std::io::Error, counters: &Counters) {
    if fdlimit::is_out_of_fds(error) {
        // Say it once, and back off instead of spinning on a full table.
        if !counters.said_out_of_fds.swap(true, Ordering::Relaxed) {
            eprintln!(
                "slow server: out of file descriptors (limit {}): connections wait until others close; \
                 raise the limit with `ulimit -n`",
                fdlimit::soft_limit().map_or("unknown".into(), |n| n.to_string())
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Other accept errors (a client that gave up while queued) concern that client only.
}

/// Bad input is answered at once; only a valid delay waits.
async fn answer(
    request: Request<Incoming>,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let _in_flight = InFlight::enter(&counters);
    let path = request.uri().path();
    let (status, body) = match path.trim_start_matches('/').split_once('/') {
        _ if ![Method::GET, Method::HEAD].contains(request.method()) => {
            (StatusCode::METHOD_NOT_ALLOWED, "only GET".into())
        }
        None if path == "/" => (StatusCode::OK, "slow server: GET /delay/{ms}".into()),
        Some(("delay", ms)) => match ms.parse::<u64>() {
            Ok(ms) if ms <= MAX_DELAY_MS => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                (StatusCode::OK, format!("waited {ms} ms"))
            }
            _ => {
                let why = format!("the delay must be a whole number of ms up to {MAX_DELAY_MS}");
                (StatusCode::BAD_REQUEST, format!("{why}, not {ms:?}"))
            }
        },
        _ => (StatusCode::NOT_FOUND, "not found: try /delay/{ms}".into()),
    };
    let response = Response::builder().status(status);
    Ok(response
        .body(Full::new(Bytes::from(body + "\n")))
        .expect("a valid status"))
}
