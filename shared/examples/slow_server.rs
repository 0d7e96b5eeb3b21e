//! The embedded slow server on its own, to poke at by hand (every section that makes requests):
//!
//! ```sh
//! cargo run -p shared --example slow_server
//! curl http://127.0.0.1:<port>/delay/500     # in another terminal
//! ```
//!
//! It prints what it counts once a second while something changes, and runs until Ctrl-C.

use shared::SlowServer;

fn main() -> anyhow::Result<()> {
    let server = SlowServer::start()?;
    let url = server.url();
    println!("slow server listening on {url}\ntry: curl {url}/delay/500   Ctrl-C stops it");
    let mut last = (0, 0, 0);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = (
            server.requests(),
            server.in_flight(),
            server.max_in_flight(),
        );
        if std::mem::replace(&mut last, now) != now {
            let (requests, in_flight, most) = now;
            println!("requests: {requests}, in flight now: {in_flight}, most at once: {most}");
        }
    }
}
