//! Running independent jobs on a few threads: a list at once ([`map`], `--jobs N`), or a
//! stream whose results must come out in order ([`Ordered`], the frames of a set).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Workers that run a stream of jobs; each job's result arrives on the receiver
/// [`submit`](Ordered::submit) returns, so a consumer that reads those receivers in
/// submission order gets the results in order. Each worker keeps a state of its own (a
/// compression context). Jobs queue up to `queue` deep, then `submit` waits.
pub struct Ordered<I: Send + 'static, O: Send + 'static> {
    jobs: Option<SyncSender<(I, SyncSender<O>)>>,
    workers: Vec<JoinHandle<()>>,
}

impl<I: Send + 'static, O: Send + 'static> std::fmt::Debug for Ordered<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl<I: Send + 'static, O: Send + 'static> Ordered<I, O> {
    pub fn new<S: 'static>(
        workers: usize,
        queue: usize,
        state: impl Fn() -> S + Send + Sync + 'static,
        work: impl Fn(&mut S, I) -> O + Send + Sync + 'static,
    ) -> Ordered<I, O> {
        let (tx, rx) = sync_channel::<(I, SyncSender<O>)>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let state = Arc::new(state);
        let work = Arc::new(work);
        let workers = (0..workers.max(1))
            .map(|i| {
                let (rx, state, work) = (rx.clone(), state.clone(), work.clone());
                std::thread::Builder::new()
                    .name(format!("pgops-worker-{i}"))
                    .spawn(move || {
                        let mut s = state();
                        loop {
                            // The lock is held only to take the next job, so jobs are
                            // taken in submission order.
                            let next = rx.lock().map(|r| r.recv());
                            let Ok(Ok((job, reply))) = next else { break };
                            let _ = reply.send(work(&mut s, job));
                        }
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        Ordered {
            jobs: Some(tx),
            workers,
        }
    }

    /// Queues a job; its result will arrive on the returned receiver.
    pub fn submit(&self, job: I) -> Receiver<O> {
        let (reply, result) = sync_channel(1);
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send((job, reply));
        }
        result
    }
}

impl<I: Send + 'static, O: Send + 'static> Drop for Ordered<I, O> {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// How many workers to run beside the calling thread: one per core.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// From how many items [`map_all`] spreads them over the cores: below, starting threads
/// costs more than it saves.
pub const PARALLEL_FROM: usize = 64;

/// Calls `f` on every item, on every core when there are more than [`PARALLEL_FROM`], in
/// this thread otherwise; the results in item order.
pub fn map_all<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() > PARALLEL_FROM {
        map(items, cores(), f)
    } else {
        items.iter().map(f).collect()
    }
}

/// Calls `f` on every item, at most `jobs` at a time, and returns the results in item order.
pub fn map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *slots[i].lock().unwrap() = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_runs_everything() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            super::map(&items, 4, |i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(super::map(&Vec::<u32>::new(), 3, |i| *i).is_empty());
    }

    #[test]
    fn ordered_results_come_back_in_submission_order() {
        let pool = super::Ordered::new(
            3,
            4,
            || 0u32,
            |seen: &mut u32, i: u64| {
                *seen += 1;
                // Later jobs finish first.
                std::thread::sleep(std::time::Duration::from_millis(20 - i % 20));
                i * 2
            },
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let consumer = std::thread::spawn(move || {
            rx.iter()
                .map(|r: std::sync::mpsc::Receiver<u64>| r.recv().unwrap())
                .collect::<Vec<_>>()
        });
        for i in 0..50 {
            tx.send(pool.submit(i)).unwrap();
        }
        drop(tx);
        assert_eq!(
            consumer.join().unwrap(),
            (0..50).map(|i| i * 2).collect::<Vec<_>>()
        );
    }
}
