//! What the load drivers share: closed-loop clients on threads, and percentiles.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `p`-th percentile (0–1) of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `work(i)` for i in 0..jobs on `clients` threads until a call returns false; returns
/// (elapsed, sorted latencies of the calls that ran).
pub fn run(clients: usize, jobs: usize, work: impl Fn(usize) -> bool + Sync) -> (Duration, Vec<Duration>) {
    let next = AtomicUsize::new(0);
    let lat = Mutex::new(Vec::with_capacity(jobs.min(1 << 20)));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        break;
                    }
                    let t = Instant::now();
                    if !work(i) {
                        break;
                    }
                    mine.push(t.elapsed());
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let elapsed = started.elapsed();
    let mut l = lat.into_inner().unwrap();
    l.sort();
    (elapsed, l)
}
