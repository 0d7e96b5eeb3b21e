//! Section 1.6: what the first three demos wait with. A slow server on 127.0.0.1 stands in for
//! "a server on the internet that takes a while"; a ticker for "other work the program could do
//! while it waits" (a tiny `ticker` span every few ms). On the waiting thread it ticks only when
//! that thread gets control back: the ticks inside a wait show whether it halted the thread.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shared::Span;
use shared::trace::named;
use tracing::info_span;

/// What the server sends after the delay.
pub const REPLY: &[u8] = b"here is your data, sorry for the wait\n";

/// Starts a one-shot server thread and returns its address: it accepts one connection, waits
/// `delay`, sends [`REPLY`] and closes (with no client, it waits in `accept` till the end).
pub fn slow_server(delay: Duration) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("slow-reply-server".into())
        .spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                // From accept to just before the reply: no reply reaches a client before it closes.
                info_span!("server waits").in_scope(|| std::thread::sleep(delay));
                // The client may have given up already; that is its business.
                let _ = stream.write_all(REPLY);
            }
        })?;
    Ok(addr)
}

/// Ticks at most once per interval, when asked.
#[derive(Debug)]
pub struct Ticker {
    every: Duration,
    next: Instant,
    on: &'static str,
}

impl Ticker {
    /// A ticker whose first tick is due now; its spans are labelled `ticker <on>`.
    pub fn new(every: Duration, on: &'static str) -> Self {
        Self {
            every,
            next: Instant::now(),
            on,
        }
    }

    /// Ticks if a tick is due (a tiny span of "other work").
    pub fn tick_if_due(&mut self) {
        let now = Instant::now();
        if now >= self.next {
            self.next = now + self.every;
            info_span!("ticker", on = self.on).in_scope(|| std::hint::black_box(now));
        }
    }

    /// How long until the next tick is due (zero if it is due already).
    pub fn until_next(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Ticks while `go_on()` holds, sleeping between ticks (the thread has nothing else to do).
    pub fn tick_while(&mut self, go_on: impl Fn() -> bool) {
        while go_on() {
            self.tick_if_due();
            std::thread::sleep(self.until_next());
        }
    }

    /// Ticks for `how_long`, sleeping between ticks.
    pub fn tick_for(&mut self, how_long: Duration) {
        let until = Instant::now() + how_long;
        self.tick_while(|| Instant::now() < until);
    }
}

/// How many ticks of the ticker on `on` (`main`, `other thread`) pass `counts`.
pub fn ticks(spans: &[Span], on: &str, counts: impl Fn(&Span) -> bool) -> u64 {
    let label = format!("ticker {on}");
    let mine = |tick: &&Span| tick.label == label && counts(tick);
    named(spans, "ticker").into_iter().filter(mine).count() as u64
}

/// The first span called `name`: the wait a demo measures.
pub fn the_span(spans: &[Span], name: &str) -> anyhow::Result<Span> {
    let first = spans.iter().find(|span| span.name == name);
    first.cloned().with_context(|| format!("no `{name}` span"))
}
