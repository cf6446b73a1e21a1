//! Progress bars for people (#13): on a terminal, every long step (dump, verify, copy,
//! drill, restore) shows what it is doing, how much is done, the rate and, when the total
//! is known, the time left. Nothing is drawn when stderr is not a terminal, under `-q`,
//! or under systemd: a bar in a journal or a pipe is noise.
//!
//! Bars are [indicatif] bars in one `MultiProgress` per process, so parallel work (one
//! bar per database) stacks, and the readable warning lines ([`crate::human`]) are printed
//! above the bars instead of through them. A bar that is not drawn is a hidden bar: the
//! hot loops call the same cheap `inc` either way.

use crate::human::Mode;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::OnceLock;
use std::time::Duration;

static MULTI: OnceLock<Option<MultiProgress>> = OnceLock::new();

/// Whether bars are drawn for this mode and stderr (pure): only for a person at a terminal.
pub fn visible(mode: Mode, stderr_is_terminal: bool) -> bool {
    mode == Mode::Terminal && stderr_is_terminal
}

fn multi() -> Option<&'static MultiProgress> {
    MULTI
        .get_or_init(|| {
            visible(
                crate::human::mode(),
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)))
        })
        .as_ref()
}

/// One step's bar (hidden when bars are not drawn). It is removed when dropped, so a step
/// that fails midway never leaves a stale bar under its error line; what it measured is
/// reported by the step's event.
#[derive(Debug)]
pub struct Bar(ProgressBar);

/// A handle that counts into a [`Bar`] from any thread (cheap: an atomic add).
#[derive(Debug, Clone)]
pub struct Counter(ProgressBar);

/// Starts a bar counting bytes for `label` (`shop: dump`). With `total`, the bar shows
/// the share done and the time left; without, the bytes and rate so far.
pub fn bytes(label: impl Into<String>, total: Option<u64>) -> Bar {
    let Some(multi) = multi() else {
        return Bar(ProgressBar::hidden());
    };
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{prefix:.bold} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("a valid template"),
        ),
        None => ProgressBar::no_length().with_style(
            ProgressStyle::with_template(
                "{prefix:.bold} {spinner} {bytes} {binary_bytes_per_sec} {elapsed}",
            )
            .expect("a valid template"),
        ),
    };
    let bar = multi.add(bar.with_prefix(label.into()));
    bar.enable_steady_tick(Duration::from_millis(200));
    Bar(bar)
}

/// Starts a bar for a step whose progress cannot be counted (pg_restore --jobs working on
/// its own): what it is and how long it has run.
pub fn spinner(label: impl Into<String>) -> Bar {
    let Some(multi) = multi() else {
        return Bar(ProgressBar::hidden());
    };
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{prefix:.bold} {spinner} {elapsed}")
            .expect("a valid template"),
    );
    let bar = multi.add(bar.with_prefix(label.into()));
    bar.enable_steady_tick(Duration::from_millis(200));
    Bar(bar)
}

impl Bar {
    /// A handle for worker threads and callbacks.
    pub fn counter(&self) -> Counter {
        Counter(self.0.clone())
    }

    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// `inner`, counted into this bar as it is read.
    pub fn reader<R: std::io::Read>(&self, inner: R) -> Counting<R> {
        self.counter().reader(inner)
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A reader that counts what passes through it into a bar (uploads, downloads).
#[derive(Debug)]
pub struct Counting<R> {
    inner: R,
    counter: Counter,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.inc(n as u64);
        Ok(n)
    }
}

impl Counter {
    /// `inner`, counted into this bar as it is read.
    pub fn reader<R: std::io::Read>(&self, inner: R) -> Counting<R> {
        Counting {
            inner,
            counter: self.clone(),
        }
    }

    /// Counts `n` more bytes done.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// Sets the bytes done so far; a position past an estimated total grows the total
    /// (an estimate, such as a database's size for its dump, never shows over 100 %).
    pub fn set(&self, done: u64) {
        if self.0.length().is_some_and(|len| done > len) {
            self.0.set_length(done);
        }
        self.0.set_position(done);
    }
}

/// Prints a readable line on stderr above the bars (or plainly when none are drawn).
pub fn println(line: &str) {
    match multi() {
        Some(m) => m.suspend(|| eprintln!("{}", crate::redact::scrub(line))),
        None => eprintln!("{}", crate::redact::scrub(line)),
    }
}
