//! Section 1.5: "when we use asyncio, we create coroutines; they can be thought of as executing a
//! lightweight thread". N units each sleep 1 s, all at once: first as N OS threads, then as N
//! tokio tasks on one thread. Each way runs in a fresh child process, so the memory it reports is
//! its own.

use std::time::Duration;

// ---- the lesson: N sleepers as threads, then as tasks ----

/// How long every unit sleeps.
pub const NAP: Duration = Duration::from_secs(1);

/// N OS threads, each sleeping `NAP`: every one has its own stack and is scheduled by the OS.
/// Stops at the first thread the OS refuses, and returns the threads started with that error.
pub fn spawn_threads(units: u64) -> (Vec<std::thread::JoinHandle<()>>, Option<std::io::Error>) {
    let mut threads = Vec::new();
    for _ in 0..units {
        match std::thread::Builder::new().spawn(|| std::thread::sleep(NAP)) {
            Ok(thread) => threads.push(thread),
            Err(error) => return (threads, Some(error)),
        }
    }
    (threads, None)
}

/// N tokio tasks, each sleeping `NAP` (asyncio's `create_task(asyncio.sleep(1))`): a task is a
/// future and a small header on the heap, and all of them share the runtime's one thread.
pub fn spawn_tasks(units: u64) -> Vec<tokio::task::JoinHandle<()>> {
    (0..units)
        .map(|_| tokio::spawn(tokio::time::sleep(NAP)))
        .collect()
}

/// How the units are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Way {
    /// OS threads (`os_threads`).
    Threads,
    /// tokio tasks on one thread (`tokio_tasks`).
    Tasks,
}

impl std::fmt::Display for Way {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Way::Threads => "threads",
            Way::Tasks => "tasks",
        })
    }
}

// ---- measuring it ----

pub use measuring::{Sleepers, in_child, measure, measure_capped, run};

mod measuring {
    use std::time::Instant;

    use anyhow::Context as _;
    use serde::{Deserialize, Serialize};
    use shared::timing::{human_ms, peak_rss_kb, ratio};
    use shared::{Narrator, Recording, Report};

    use super::Way;
    use crate::Sizes;
    use crate::child::{ChildJob, SelfExe};
    use crate::demos::processes_and_threads::thread_count;
    use crate::thread_cap::ThreadCap;

    const DEMO: &str = "coroutines";
    const SECTION: &str = "1.5";

    /// N units sleeping at once, one way, measured inside its own child process.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Sleepers {
        /// `os_threads` or `tokio_tasks`.
        pub name: String,
        /// How many units slept at once.
        pub units: u64,
        /// From the first spawn until every unit was done.
        pub wall_ms: f64,
        /// The child process's peak resident memory.
        pub peak_rss_kb: u64,
        /// How much the peak grew per unit over the process's own start.
        pub bytes_per_unit: f64,
        /// Time to create one unit, in microseconds.
        pub spawn_us_per_unit: f64,
        /// OS threads the process had while the units slept.
        pub threads_used: u64,
        /// Why fewer units ran than asked for, when they did.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub note: Option<String>,
    }

    /// Runs in the child: the units, the way asked, measured from inside. Returns the row as a
    /// JSON line for the parent.
    pub fn in_child(way: Way, units: u64) -> anyhow::Result<String> {
        let before_kb = peak_rss_kb();
        let started = Instant::now();
        let (spawned, threads_used, note) = match way {
            Way::Threads => {
                let (threads, refused) = super::spawn_threads(units);
                let spawned = started.elapsed();
                let threads_used = thread_count().unwrap_or(threads.len() as u64 + 1);
                let started_units = threads.len() as u64;
                for thread in threads {
                    thread
                        .join()
                        .map_err(|_| anyhow::anyhow!("a sleeping thread panicked"))?;
                }
                let mut notes = Vec::new();
                if let Some(error) = refused {
                    notes.push(format!(
                        "the OS refused thread {} ({error})",
                        started_units + 1
                    ));
                }
                if threads_used <= started_units {
                    // The main thread plus every unit would be `started_units + 1`.
                    notes.push(format!(
                        "starting them took {}, longer than a nap, so the first had finished \
                         before the last started: {} were alive at once",
                        shared::timing::human(spawned),
                        threads_used.saturating_sub(1)
                    ));
                }
                let note = (!notes.is_empty()).then(|| notes.join("; "));
                (spawned, threads_used, (started_units, note))
            }
            Way::Tasks => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .context("could not start the tokio runtime")?;
                runtime.block_on(async {
                    let tasks = super::spawn_tasks(units);
                    let spawned = started.elapsed();
                    let threads_used = thread_count().unwrap_or(1);
                    for task in tasks {
                        task.await.context("a sleeping task failed")?;
                    }
                    anyhow::Ok((spawned, threads_used, (units, None)))
                })?
            }
        };
        let wall = started.elapsed();
        let (ran, note) = note;
        let grown_kb = peak_rss_kb().saturating_sub(before_kb);
        let row = Sleepers {
            name: match way {
                Way::Threads => "os_threads",
                Way::Tasks => "tokio_tasks",
            }
            .into(),
            units: ran,
            wall_ms: wall.as_secs_f64() * 1e3,
            peak_rss_kb: peak_rss_kb(),
            bytes_per_unit: ratio(grown_kb as f64 * 1024.0, ran as f64),
            spawn_us_per_unit: ratio(spawned.as_secs_f64() * 1e6, ran as f64),
            threads_used,
            note,
        };
        Ok(serde_json::to_string(&row)?)
    }

    /// Runs `units` sleepers as threads (capped at what this machine allows), then as tasks,
    /// each in a fresh child process.
    pub fn measure(
        units: u64,
        exe: &SelfExe,
        narrator: &Narrator,
    ) -> anyhow::Result<[Sleepers; 2]> {
        measure_capped(units, &crate::thread_cap::current(), exe, narrator)
    }

    /// [`measure`] with the thread cap given.
    pub fn measure_capped(
        units: u64,
        cap: &ThreadCap,
        exe: &SelfExe,
        narrator: &Narrator,
    ) -> anyhow::Result<[Sleepers; 2]> {
        let thread_units = units.min(cap.max_threads);
        let mut rows = Vec::new();
        for (way, n, what) in [
            (Way::Threads, thread_units, "os_threads"),
            (Way::Tasks, units, "tokio_tasks"),
        ] {
            let recording = Recording::start();
            let progress = narrator.progress(
                &recording,
                &format!("{what}: {n} units sleeping"),
                "unit",
                None,
            );
            let output = exe.run(ChildJob::Sleepers { way, units: n });
            drop(progress);
            drop(recording);
            let output = output?;
            let mut row: Sleepers = output
                .lines
                .iter()
                .find_map(|line| serde_json::from_str(line).ok())
                .context("the sleepers child did not report its measurement")?;
            if way == Way::Threads && n < units {
                let capped = format!("capped from {units} to {n} threads: {}", cap.reason);
                row.note = Some(match row.note {
                    Some(more) => format!("{capped}; {more}"),
                    None => capped,
                });
            }
            rows.push(row);
        }
        let [threads, tasks]: [Sleepers; 2] = rows
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected two rows"))?;
        Ok([threads, tasks])
    }

    /// Runs the demo with its narration.
    pub fn run(sizes: &Sizes, exe: &SelfExe, narrator: &Narrator) -> anyhow::Result<()> {
        narrator.header(
            SECTION,
            "Coroutines: lightweight threads",
            "A coroutine (a tokio task, an asyncio task) can be thought of as a lightweight \
             thread: it waits like a thread, but costs far less to create and to keep.",
        );
        let units = sizes.units;
        narrator.say(format!(
            "{units} units each sleep {} at once: as OS threads, then as tokio tasks on one \
             thread, each way in a fresh child process so that its memory is its own.\n\n",
            shared::timing::human(super::NAP)
        ));
        let [threads, tasks] = measure(units, exe, narrator)?;
        narrator.report(&Report::new(DEMO, SECTION, vec![&threads, &tasks]));
        let mut lines = vec![format!(
            "Spawning: a task took {:.2} µs to create, a thread {:.2} µs: {:.0} times less.",
            tasks.spawn_us_per_unit,
            threads.spawn_us_per_unit,
            ratio(threads.spawn_us_per_unit, tasks.spawn_us_per_unit)
        )];
        lines.push(format!(
            "Memory: a task grew the process by {:.0} bytes, a thread by {:.0} bytes: {:.0} times \
             less. All {} tasks shared {} OS thread(s); the threads needed {} of them.",
            tasks.bytes_per_unit,
            threads.bytes_per_unit,
            ratio(threads.bytes_per_unit, tasks.bytes_per_unit),
            tasks.units,
            tasks.threads_used,
            threads.threads_used
        ));
        lines.push(format!(
            "Both ways slept at once: {} units of {} each took {} in total as tasks and {} for {} \
             threads, not units x 1 s.",
            tasks.units,
            shared::timing::human(super::NAP),
            human_ms(tasks.wall_ms),
            human_ms(threads.wall_ms),
            threads.units
        ));
        narrator.summary(SECTION, &lines);
        Ok(())
    }
}
