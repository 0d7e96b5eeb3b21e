//! The embedded slow server on its own, to poke at by hand (every section that makes requests):
//!
//! ```sh
//! cargo run -p shared --example slow_server
//! curl http://127.0.0.1:<port>/delay/500     # in another terminal
//! ```
//!
//! It prints what it counts once a second while something changes, and runs until Ctrl-C.

use std::time::Duration;

use shared::SlowServer;

fn main() -> std::process::ExitCode {
    shared::cli::report_errors(serve())
}

fn serve() -> anyhow::Result<()> {
    let server = SlowServer::start()?;
    let url = server.url();
    println!("slow server listening on {url}");
    println!("try: curl {url}/delay/500   Ctrl-C stops it");
    let counts = |s: &SlowServer| (s.requests(), s.in_flight(), s.max_in_flight());
    let mut last = counts(&server);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = counts(&server);
        if now != last {
            let (requests, in_flight, most) = now;
            println!(
                "requests: {requests}, in flight now: {in_flight}, most in flight at once: {most}"
            );
            last = now;
        }
    }
}
