//! The embedded slow server on its own, to poke at by hand (every section that makes requests):
//! `cargo run -p shared --example slow_server`, then `curl` the URL it prints from another
//! terminal. Each second something changed, it prints what it counts; Ctrl-C stops it.

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
