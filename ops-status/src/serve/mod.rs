//! `ops-status serve`: the snapshot over HTTP (ADR 0015). The snapshot is reloaded when
//! the catalog or the state directory changes (inotify, debounced) and at least every
//! `--refresh`; requests only read what was rendered from it. SIGHUP re-reads the config
//! and the token without dropping a connection; SIGTERM drains and stops.

pub mod http;
pub mod published;
pub mod settings;

use crate::cli::{Common, ServeArgs};
use crate::metrics::BuildInfo;
use ops_core::event::{Emitter, Severity};
use ops_core::event_names as names;
use ops_core::{Category, ExitCode, OpsError};
use published::publish;
use serde_json::json;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The shortest time between two reloads caused by changes.
const MIN_RELOAD_GAP: Duration = Duration::from_secs(1);

/// The addresses `listen` names, refused when one is reachable from the internet
/// (a public address, or every interface) unless `allow_public`.
pub fn listen_addresses(listen: &str, allow_public: bool) -> Result<Vec<SocketAddr>, OpsError> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| {
            OpsError::new(
                "listen_invalid",
                Category::Validation,
                format!("--listen {listen}: {e} (expected ADDRESS:PORT, e.g. 127.0.0.1:9187)"),
            )
        })?
        .collect();
    if !allow_public {
        if let Some(a) = addrs
            .iter()
            .find(|a| ops_core::scope::classify(a.ip(), &[]).is_public())
        {
            return Err(OpsError::new(
                "public_listen_refused",
                Category::Validation,
                format!(
                    "--listen {listen}: {} is reachable from the internet; listen on loopback, a private or WireGuard address, or pass --allow-public",
                    a.ip()
                ),
            ));
        }
    }
    Ok(addrs)
}

fn defaults(args: &ServeArgs) -> settings::Defaults {
    settings::Defaults {
        rate: args.rate,
        burst: args.burst,
        token_file: args.token_file.clone(),
    }
}

/// Watches `paths` (recursively) and signals `tx` on any change; a path that cannot be
/// watched is reported, and the periodic refresh covers it.
fn watch(
    paths: &[&std::path::Path],
    tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = match notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        // Full: a refresh is already due, and it will see this change too.
        let _ = tx.try_send(());
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!(
                "ops-status: warning: cannot watch for changes ({e}); refreshing periodically only"
            );
            return None;
        }
    };
    for p in paths {
        if let Err(e) = w.watch(p, notify::RecursiveMode::Recursive) {
            eprintln!(
                "ops-status: warning: cannot watch {} ({e}); refreshing it periodically only",
                p.display()
            );
        }
    }
    Some(w)
}

/// Runs the server until SIGTERM or SIGINT; returns the exit code.
pub fn run(common: &Common, args: &ServeArgs, emitter: &Emitter, build: BuildInfo) -> ExitCode {
    let fail = |e: OpsError| ops_core::cli::fail_run(emitter, "serve", e);
    let addrs = match listen_addresses(&args.listen, args.allow_public) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let first = match settings::load(&defaults(args), args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(OpsError::io("starting the HTTP runtime", &e)),
    };
    runtime.block_on(serve(common, args, emitter, build, addrs, first))
}

async fn serve(
    common: &Common,
    args: &ServeArgs,
    emitter: &Emitter,
    build: BuildInfo,
    addrs: Vec<SocketAddr>,
    first: settings::Settings,
) -> ExitCode {
    let fail = |e: OpsError| ops_core::cli::fail_run(emitter, "serve", e);
    let listener = match tokio::net::TcpListener::bind(&addrs[..]).await {
        Ok(l) => l,
        Err(e) => return fail(OpsError::io(format!("listening on {}", args.listen), &e)),
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let policy = args.policy.policy();
    let load = {
        let sources = common.sources.clone();
        let server = (!args.no_postgres_check).then(ops_health::probe::Server::from_env);
        move || {
            crate::gather::load(&sources).map(|mut s| {
                s.postgres = server.as_ref().map(|srv| {
                    let answer = ops_health::probe::reachable(srv, Duration::from_secs(3));
                    (srv.describe(), answer)
                });
                s
            })
        }
    };
    let shared = Arc::new(http::Shared {
        published: RwLock::new(Arc::new(publish(&load(), &policy, &build))),
        live: RwLock::new(Arc::new(http::Live::new(first, None))),
        version: env!("CARGO_PKG_VERSION"),
    });

    // Refresh: on a change (debounced) and every --refresh.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut watched: Vec<&std::path::Path> = common
        .sources
        .at
        .backup_dir
        .iter()
        .map(|p| p.as_path())
        .collect();
    watched.extend(common.sources.state_dir.as_deref());
    let _watcher = watch(&watched, tx);
    let refresher = {
        let shared = shared.clone();
        let every = args.refresh;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    Some(()) = rx.recv() => {
                        // Let a burst of writes (a set being finished) settle first, and
                        // reload at most once a second: a dump writing for an hour must
                        // not keep the server re-reading the catalog.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        tokio::time::sleep_until(last + MIN_RELOAD_GAP).await;
                        while rx.try_recv().is_ok() {}
                    }
                    _ = tick.tick() => {}
                }
                last = tokio::time::Instant::now();
                let load = load.clone();
                if let Ok(loaded) = tokio::task::spawn_blocking(load).await {
                    let p = Arc::new(publish(&loaded, &policy, &build));
                    *shared.published.write().unwrap_or_else(|e| e.into_inner()) = p;
                }
                shared.live().limiter.retain_recent();
            }
        })
    };

    // SIGHUP: re-read the config and the token; a failed reload keeps what is in force.
    let reloader = {
        let shared = shared.clone();
        let d = defaults(args);
        let config = args.config.clone();
        let emitter_id = emitter.correlation_id().to_string();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            let reloads = Emitter::stdout("ops-status", emitter_id).without_run_history();
            while hup.recv().await.is_some() {
                match settings::load(&d, config.as_deref()) {
                    Ok(s) => {
                        let payload = json!({"applied": true, "rate": s.rate.get(), "burst": s.burst.get(),
                                             "token": s.token.is_some()});
                        let live = http::Live::new(s, Some(&shared.live()));
                        *shared.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(live);
                        reloads.emit(names::STATUS_RELOADED, Severity::Info, payload);
                    }
                    Err(e) => reloads.emit_error(
                        names::STATUS_RELOADED,
                        Severity::Error,
                        &e,
                        json!({"applied": false}),
                    ),
                }
            }
        })
    };

    emitter.emit(
        names::STATUS_SERVING,
        Severity::Info,
        json!({"listen": local, "endpoints": ["/health", "/readiness", "/backups/status", "/restore/status", "/metrics"],
               "token": shared.live().settings.token.is_some(),
               "rate": args.rate.get(), "refresh_s": args.refresh.as_secs()}),
    );
    let app = http::router(shared);
    let stopped = async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    };
    accept_loop(listener, app, stopped).await;
    refresher.abort();
    reloader.abort();
    emitter.finish("serve", ExitCode::Ok, json!({"listen": local}))
}

/// How long a client may take to send a request's headers (slowloris), and how long a
/// kept-alive connection may wait idle for its next request: hyper starts this timer
/// whenever it waits for a request head, the first or the next.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long one connection may live, whatever it does (a client reading answers at a
/// trickle): it reconnects after that.
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Accepts connections until `stopped`: each served by hyper with a header-read (and
/// idle) timeout and a limit on its whole life, so slow or idle clients cannot hold
/// connections open (axum::serve offers neither).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stopped: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    tokio::pin!(stopped);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors, a reset before accept: the next one may work.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // Past its time the connection is dropped: the socket closes.
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_address_is_refused_unless_allowed() {
        for public in ["0.0.0.0:9187", "[::]:9187", "198.51.100.7:9187"] {
            let e = listen_addresses(public, false).unwrap_err();
            assert_eq!(e.code, "public_listen_refused", "{public}");
            assert!(listen_addresses(public, true).is_ok());
        }
        for private in [
            "127.0.0.1:9187",
            "[::1]:9187",
            "10.0.0.5:9187",
            "100.64.1.1:1",
        ] {
            assert!(listen_addresses(private, false).is_ok(), "{private}");
        }
        assert_eq!(
            listen_addresses("nonsense", false).unwrap_err().code,
            "listen_invalid"
        );
    }
}
