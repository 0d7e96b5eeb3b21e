//! The four demos of sections 1.1-1.3, one module each, in the order of the notes.

pub mod background;
pub mod io_vs_cpu;
pub mod multitasking;
pub mod requests;

/// A tokio runtime whose one thread runs every task, as asyncio's event loop does.
fn event_loop() -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let runtime = builder.enable_all().build();
    anyhow::Context::context(runtime, "could not start the tokio runtime")
}
