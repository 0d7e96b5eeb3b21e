//! The slow server (delays, bad input, overlap counting, resilience) and the demos' HTTP clients.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use shared::server::SlowServer;
use shared::workloads::{blocking_http_client, http_client};

/// One request (`"GET /delay/10"`) through the demos' blocking client: the status and the body.
fn ask(server: &SlowServer, request: &str) -> (u16, String) {
    let (method, path) = request.split_once(' ').unwrap();
    let url: reqwest::Url = format!("{}{path}", server.url()).parse().unwrap();
    let client = blocking_http_client(&url).unwrap();
    let answer = client.request(method.parse().unwrap(), url).send().unwrap();
    (answer.status().as_u16(), answer.text().unwrap())
}

fn get(server: &SlowServer, path: &str) -> u16 {
    ask(server, &format!("GET {path}")).0
}

#[test]
fn delay_waits_that_long_bad_requests_are_refused_and_the_server_keeps_going() {
    let server = SlowServer::start().unwrap();
    let started = Instant::now();
    let (status, body) = ask(&server, "GET /delay/200");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(body.contains("200 ms"), "{body}");
    // The last is empty: `/delay/`.
    for ms in "abc,-1,18446744073709551616,100000000,60001,".split(',') {
        assert_eq!(get(&server, &format!("/delay/{ms}")), 400, "/delay/{ms}");
    }
    assert_eq!(get(&server, "/nowhere"), 404);
    assert_eq!(ask(&server, "POST /delay/1").0, 405);
    assert_eq!(get(&server, "/"), 200, "the index");
    assert_eq!(get(&server, "/delay/0"), 200, "still serving");
}

/// `n` requests to `/delay/{ms}` at once through the demos' client: are they all `200`?
async fn concurrently(server: &SlowServer, n: usize, ms: u64) -> bool {
    let url = server.delay_url(ms).parse().unwrap();
    let client = http_client(&url).unwrap();
    let requests = (0..n).map(|_| shared::workloads::fetch(&client, &url));
    let statuses = futures::future::join_all(requests).await;
    statuses.iter().all(|s| matches!(s, Ok(200)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_then_a_thousand_concurrent_requests_are_all_in_flight_at_once() {
    let server = SlowServer::start().unwrap();
    assert!(concurrently(&server, 20, 300).await);
    assert_eq!(server.requests(), 20);
    assert_eq!(server.max_in_flight(), 20);
    assert_eq!(server.in_flight(), 0);

    server.reset();
    shared::fdlimit::ensure_available(2200, "1000 connections").unwrap();
    assert!(concurrently(&server, 1000, 1500).await);
    assert_eq!(server.requests(), 1000);
    // All of them were held open at once: the 1.5 s delay dwarfs the time to connect them all.
    assert!(server.max_in_flight() >= 900, "{}", server.max_in_flight());
}

#[test]
fn sequential_requests_are_never_more_than_one_in_flight_and_reset_starts_anew() {
    let server = SlowServer::start().unwrap();
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.max_in_flight(), 0);
    for _ in 0..5 {
        assert_eq!(get(&server, "/delay/20"), 200);
    }
    assert_eq!(server.requests(), 5);
    assert_eq!(server.max_in_flight(), 1);
    std::thread::scope(|scope| {
        let threads = [(); 3].map(|()| scope.spawn(|| get(&server, "/delay/300")));
        for thread in threads {
            assert_eq!(thread.join().unwrap(), 200);
        }
    });
    assert_eq!(server.max_in_flight(), 3);
    server.reset();
    assert_eq!(server.requests(), 0);
    get(&server, "/delay/0");
    assert_eq!(server.max_in_flight(), 1);
}

#[test]
fn a_client_that_disconnects_mid_request_does_not_stop_the_server() {
    let server = SlowServer::start().unwrap();
    // Half a request line, then hang up.
    let mut half = TcpStream::connect(server.addr()).unwrap();
    half.write_all(b"GET /delay/10 HT").unwrap();
    drop(half);
    {
        // A whole request whose answer we never wait for.
        let mut impatient = TcpStream::connect(server.addr()).unwrap();
        let request = b"GET /delay/500 HTTP/1.1\r\nHost: x\r\n\r\n";
        impatient.write_all(request).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&server, "/delay/10"), 200);
    // The abandoned request does not stay "in flight" forever.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.in_flight() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.in_flight(), 0);
    // The server stops when dropped.
    let addr = server.addr();
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// `--url https://...` works: reqwest's rustls has a crypto provider (ring) to build its TLS
/// configuration from; without one, building an https-capable client fails.
#[test]
fn https_clients_can_be_built_with_the_ring_provider() {
    let url = "https://example.com/".parse().unwrap();
    http_client(&url).expect("async https client");
    blocking_http_client(&url).expect("blocking https client");
    let provider = rustls::crypto::CryptoProvider::get_default().expect("a provider was installed");
    // The suites come from ring: the same list ring's own provider offers.
    let ring = rustls::crypto::ring::default_provider().cipher_suites.len();
    let ours = provider.cipher_suites.len();
    assert_eq!(ours, ring, "the installed provider is not ring's");
}
