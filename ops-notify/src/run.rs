//! Running a subcommand: read the targets and the facts, compose (pure), deliver, report.
//! Every run first tries the outbox's held messages that are due.

use crate::cli::{Args, Command, PingArgs, WatchArgs};
use crate::compose::{self, Ctx};
use crate::deliver::{self, Options};
use crate::message::{host_name, runbook_base, Kind, Message};
use crate::render::{Phase, PingCall};
use crate::report::{Failed, Held, Named, Sent, Tally};
use crate::store::{Outcome, Queued, Store, GIVE_UP_AFTER};
use crate::target::Target;
use crate::{facts, watch};
use jiff::Timestamp;
use ops_core::event::{correlation_id_from_env, Emitter};
use ops_core::{ExitCode, OpsError};

/// What one run works with.
struct Run<'a> {
    emitter: &'a Emitter,
    targets: Vec<Target>,
    store: Option<Store>,
    options: Options,
    tally: Tally,
}

fn ctx() -> Ctx {
    let now = Timestamp::now();
    Ctx {
        host: host_name(),
        // To the second: a person reads it, and the events carry the exact time.
        at: now.round(jiff::Unit::Second).unwrap_or(now),
        runbook_base: runbook_base(),
    }
}

/// Runs the subcommand `args` names; returns the process exit code.
pub fn run(args: &Args) -> i32 {
    let emitter = Emitter::stdout("ops-notify", correlation_id_from_env()).without_run_history();
    let action = action(&args.command);
    match execute(args, &emitter) {
        Ok(tally) => {
            // A delivery that failed is reported (1); the message waits in the outbox.
            let exit = if tally.deliveries_failed > 0 {
                ExitCode::Problem
            } else {
                ExitCode::Ok
            };
            emitter.finish(action, exit, &tally).code()
        }
        Err(e) => ops_core::cli::fail_run(&emitter, action, e).code(),
    }
}

fn action(c: &Command) -> &'static str {
    match c {
        Command::Unit(_) => "unit",
        Command::Ping(_) => "ping",
        Command::Watch(_) => "watch",
        Command::Digest(_) => "digest",
        Command::Test => "test",
        Command::Flush => "flush",
    }
}

fn execute(args: &Args, emitter: &Emitter) -> Result<Tally, OpsError> {
    let targets = crate::target::configured(args.delivery.targets.as_deref())?;
    if targets.is_empty() && matches!(args.command, Command::Test) {
        return Err(OpsError::validation(
            "notify_no_targets",
            format!(
                "no target to test: write one URL per line in {} (or name a file with --targets / {})",
                crate::target::DEFAULT_TARGETS_FILE,
                crate::target::TARGETS_ENV
            ),
        ));
    }
    let store = match &args.sources.state_dir {
        Some(dir) => Some(
            Store::open(dir)
                .map_err(|e| OpsError::io_at("opening the notification store in", dir, &e))?,
        ),
        None => None,
    };
    let mut run = Run {
        emitter,
        tally: Tally {
            targets: targets.len(),
            ..Tally::default()
        },
        targets,
        store,
        options: Options {
            timeout: args.delivery.timeout,
            attempts: args.delivery.attempts.get(),
            backoff: args.delivery.backoff,
        },
    };
    run.flush(Timestamp::now());
    match &args.command {
        Command::Flush => {}
        Command::Test => run.deliver(&compose::test(&ctx())),
        Command::Ping(p) => run.ping(p, None),
        Command::Unit(u) => run.unit(u, &args.sources)?,
        Command::Digest(policy) => {
            let v = facts::verdict(&args.sources, policy).ok_or_else(no_catalog)?;
            let m = compose::digest(
                v.overall,
                &v.components,
                v.snapshot.as_ref(),
                "on demand",
                &ctx(),
            );
            run.deliver(&m);
        }
        Command::Watch(w) => run.watch(w, &args.sources)?,
    }
    Ok(run.tally)
}

fn no_catalog() -> OpsError {
    OpsError::validation(
        "catalog_missing",
        "name the catalog (--backup-dir or PGOPS_BACKUP_DIR): its health is what is told",
    )
}

impl Run<'_> {
    /// After a unit: its message, then its heartbeat's end.
    fn unit(
        &mut self,
        u: &crate::cli::UnitArgs,
        sources: &ops_health::cli::SourceArgs,
    ) -> Result<(), OpsError> {
        let f = facts::unit(u, sources)?;
        let verdict = facts::verdict(sources, &u.policy);
        let m = compose::unit(&f, verdict.as_ref().and_then(|v| v.for_message()), &ctx());
        self.deliver(&m);
        let ping = PingArgs {
            phase: if f.succeeded {
                Phase::Success
            } else {
                Phase::Fail
            },
            exit_code: f.exit_status.as_deref().and_then(|s| s.parse().ok()),
            message: Some(m.summary),
            unit: f.unit.clone(),
        };
        self.ping(&ping, f.invocation_id.as_deref());
        Ok(())
    }

    /// Delivers `m` to every target that wants it; what fails and may pass later is
    /// queued in the outbox.
    fn deliver(&mut self, m: &Message) {
        let now = Timestamp::now();
        for t in self.targets.iter().filter(|t| t.wants(m.kind)) {
            let d = deliver::message(t, m, &self.options);
            match d.error {
                None => {
                    count(self.store.as_ref(), &mut self.tally, t, Outcome::Sent, now);
                    self.emitter
                        .send(&Sent::new(t, m.kind, &m.subject, d.attempts, None));
                }
                Some(error) => {
                    count(
                        self.store.as_ref(),
                        &mut self.tally,
                        t,
                        Outcome::Failed,
                        now,
                    );
                    let queued = d.retryable
                        && self.store.as_ref().is_some_and(|s| {
                            s.queue(&Queued {
                                v: 1,
                                target_line: t.line,
                                fingerprint: t.fingerprint.clone(),
                                label: t.label.clone(),
                                scheme: t.scheme().into(),
                                attempts: d.attempts,
                                first_at: now,
                                next_at: now + Queued::backoff(0),
                                last_error: error.code.to_string(),
                                message: m.clone(),
                            })
                            .is_ok()
                        });
                    self.tally.messages_queued += u64::from(queued);
                    self.emitter.send(&Failed::new(
                        Named::from(t),
                        m.kind,
                        &m.subject,
                        d.attempts,
                        queued,
                        false,
                        error,
                    ));
                }
            }
        }
    }

    /// Tries every held message that is due.
    fn flush(&mut self, now: Timestamp) {
        let Some(store) = self.store.clone() else {
            return;
        };
        for (path, mut q) in store.queued() {
            if q.next_at > now {
                continue;
            }
            let target = self
                .targets
                .iter()
                .find(|t| t.line == q.target_line && t.fingerprint == q.fingerprint);
            let Some(t) = target else {
                // The line was edited or removed: the message is not sent elsewhere.
                let _ = store.unqueue(&path);
                self.dropped(
                    &q,
                    "notify_target_gone",
                    "its target line was changed or removed",
                );
                continue;
            };
            let d = deliver::message(t, &q.message, &self.options);
            match d.error {
                None => {
                    let _ = store.unqueue(&path);
                    count(self.store.as_ref(), &mut self.tally, t, Outcome::Sent, now);
                    self.emitter.send(&Sent::new(
                        t,
                        q.message.kind,
                        &q.message.subject,
                        q.attempts + d.attempts,
                        Some(q.first_at.to_string()),
                    ));
                }
                Some(error) => {
                    count(
                        self.store.as_ref(),
                        &mut self.tally,
                        t,
                        Outcome::Failed,
                        now,
                    );
                    q.attempts += d.attempts;
                    q.last_error = error.code.to_string();
                    let give_up = !d.retryable || now.duration_since(q.first_at) >= GIVE_UP_AFTER;
                    if give_up {
                        let _ = store.unqueue(&path);
                        count(
                            self.store.as_ref(),
                            &mut self.tally,
                            t,
                            Outcome::Dropped,
                            now,
                        );
                    } else {
                        q.next_at = now + Queued::backoff(q.attempts);
                        let _ = store.requeue(&path, &q);
                    }
                    self.emitter.send(&Failed::new(
                        Named::from(t),
                        q.message.kind,
                        &q.message.subject,
                        q.attempts,
                        !give_up,
                        give_up,
                        error,
                    ));
                }
            }
        }
    }

    fn dropped(&mut self, q: &Queued, code: &'static str, why: &str) {
        self.tally.messages_dropped += 1;
        let to = Named {
            target: q.target_line,
            label: q.label.clone(),
            sink: q.scheme.clone(),
        };
        let error = OpsError::validation(code, why.to_string());
        self.emitter.send(&Failed::new(
            to,
            q.message.kind,
            &q.message.subject,
            q.attempts,
            false,
            true,
            error,
        ));
    }

    /// Pings every heartbeat target. A late heartbeat would lie about when the job ran:
    /// pings are never queued.
    fn ping(&mut self, p: &PingArgs, invocation_id: Option<&str>) {
        let invocation = invocation_id
            .map(String::from)
            .or_else(|| std::env::var("MONITOR_INVOCATION_ID").ok())
            .or_else(|| std::env::var("INVOCATION_ID").ok());
        let call = PingCall {
            phase: p.phase,
            exit_code: p.exit_code.or_else(facts::exit_code),
            run_id: invocation.as_deref().and_then(crate::render::run_id),
            body: p.message.clone().unwrap_or_else(|| {
                format!("pgops on {}: {:?}", host_name(), p.phase).to_lowercase()
            }),
        };
        let now = Timestamp::now();
        for t in self.targets.iter().filter(|t| t.follows(&p.unit)) {
            let Some(d) = deliver::ping(t, &call, &self.options) else {
                continue;
            };
            let subject = format!("{:?} ping", call.phase).to_lowercase();
            match d.error {
                None => {
                    count(self.store.as_ref(), &mut self.tally, t, Outcome::Sent, now);
                    self.emitter
                        .send(&Sent::new(t, Kind::Heartbeat, &subject, d.attempts, None));
                }
                Some(error) => {
                    count(
                        self.store.as_ref(),
                        &mut self.tally,
                        t,
                        Outcome::Failed,
                        now,
                    );
                    self.emitter.send(&Failed::new(
                        Named::from(t),
                        Kind::Heartbeat,
                        &subject,
                        d.attempts,
                        false,
                        false,
                        error,
                    ));
                }
            }
        }
    }

    /// One watch: judge, decide against what was told, remember, tell.
    fn watch(
        &mut self,
        w: &WatchArgs,
        sources: &ops_health::cli::SourceArgs,
    ) -> Result<(), OpsError> {
        let store = self.store.clone().ok_or_else(|| {
            OpsError::validation(
                "state_dir_missing",
                "watch remembers what it told in the state directory (--state-dir or PGOPS_STATE_DIR)",
            )
        })?;
        let v = facts::verdict(sources, &w.policy).ok_or_else(no_catalog)?;
        let settings = watch::Settings {
            repeat: signed(w.repeat),
            min_interval: signed(w.min_interval),
            max_per_hour: w.max_per_hour,
            digest: w.digest,
        };
        let ctx = ctx();
        let tz = jiff::tz::TimeZone::system();
        // The decision and its memory under the lock: two watches never tell one change twice.
        let decision = {
            let lock = store
                .lock()
                .map_err(|e| OpsError::io("locking the notification store", &e))?;
            let d = watch::decide(
                &store.watch_state(&lock),
                &v.components,
                ctx.at,
                &settings,
                &tz,
            );
            store
                .save_watch_state(&lock, &d.state)
                .map_err(|e| OpsError::io("saving what the watch told", &e))?;
            d
        };
        for (change, reason) in &decision.held {
            self.tally.changes_held += 1;
            self.emitter.send(&Held::new(
                &change.component,
                change.what,
                *reason,
                change.flips,
            ));
        }
        if !decision.tell.is_empty() {
            let m = compose::changes(
                &decision.tell,
                v.overall,
                &v.components,
                v.snapshot.as_ref(),
                &ctx,
            );
            self.deliver(&m);
        }
        if decision.digest_due {
            let period = w.digest.map(|d| d.period()).unwrap_or("daily");
            let m = compose::digest(v.overall, &v.components, v.snapshot.as_ref(), period, &ctx);
            self.deliver(&m);
        }
        Ok(())
    }
}

/// Counts a delivery's outcome in this run's tally and in the store (what ops-status
/// exports); a store that cannot be written loses a count, never a message.
fn count(store: Option<&Store>, tally: &mut Tally, t: &Target, outcome: Outcome, now: Timestamp) {
    match outcome {
        Outcome::Sent => tally.messages_sent += 1,
        Outcome::Failed => tally.deliveries_failed += 1,
        Outcome::Dropped => tally.messages_dropped += 1,
    }
    if let Some(Err(e)) = store.map(|s| s.count(t.scheme(), outcome, now)) {
        eprintln!("ops-notify: warning: could not count the delivery: {e}");
    }
}

fn signed(d: std::time::Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}
