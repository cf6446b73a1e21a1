//! The HTTP side of `serve` (axum over hyper): the routes, and one gate in front of them
//! that gives each request its correlation id, applies the per-client rate limit and the
//! bearer token, and leaves one JSON access line on stderr.

use super::published::{wrap, Answer, Published};
use super::settings::Settings;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The header carrying the correlation id, in both directions.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The only endpoint the token does not guard: a liveness probe must work without
/// secrets (kubelet, a load balancer).
pub const OPEN_PATH: &str = "/health";

/// The settings in force and the limiter built from them.
#[derive(Debug)]
pub struct Live {
    pub settings: Settings,
    pub limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Live {
    /// The live state of `settings`, keeping `previous`'s limiter (and so every client's
    /// bucket) when the limits did not change.
    pub fn new(settings: Settings, previous: Option<&Live>) -> Live {
        let limiter = match previous {
            Some(p) if p.settings.rate == settings.rate && p.settings.burst == settings.burst => {
                p.limiter.clone()
            }
            _ => Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(settings.rate).allow_burst(settings.burst),
            )),
        };
        Live { settings, limiter }
    }
}

/// What every request reads.
#[derive(Debug)]
pub struct Shared {
    pub published: RwLock<Arc<Published>>,
    pub live: RwLock<Arc<Live>>,
    pub version: &'static str,
}

impl Shared {
    pub fn published(&self) -> Arc<Published> {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The request's correlation id (set by the gate, read by the handlers).
#[derive(Debug, Clone)]
struct Correlation(String);

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn error_response(status: StatusCode, id: &str, code: &str, message: &str) -> Response {
    let a = Answer {
        ok: false,
        data: "null".into(),
        error: serde_json::json!({"code": code, "message": message}).to_string(),
    };
    json_response(status, wrap(&a, id))
}

fn answer(a: &Answer, id: &str) -> Response {
    let status = if a.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, wrap(a, id))
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in constant time.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.trim().as_bytes().ct_eq(token.as_bytes()).into()
}

/// The correlation id of a request: the caller's, when it sent a valid one, so that one
/// id follows a request across systems; else a new one.
fn correlation(headers: &HeaderMap) -> String {
    headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| ops_core::event::is_valid_correlation_id(v))
        .map(String::from)
        .unwrap_or_else(ops_core::event::new_correlation_id)
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// Over the client's limit: retry in this many whole seconds (never 0, which would
    /// invite an instant retry).
    RateLimited {
        retry_after_s: u64,
        message: String,
    },
    Unauthorized,
}

impl Refusal {
    fn response(&self, id: &str) -> Response {
        match self {
            Refusal::RateLimited {
                retry_after_s,
                message,
            } => {
                let mut r =
                    error_response(StatusCode::TOO_MANY_REQUESTS, id, "rate_limited", message);
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
                r
            }
            Refusal::Unauthorized => {
                let mut r = error_response(
                    StatusCode::UNAUTHORIZED,
                    id,
                    "unauthorized",
                    "this endpoint needs Authorization: Bearer <token> (the token of --token-file)",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"pgops\""),
                );
                r
            }
        }
    }
}

/// Decides whether a request may proceed: the rate limit first (a flood of bad tokens
/// is limited too), then the token.
fn admit(live: &Live, client: IpAddr, path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    if let Err(not_until) = live.limiter.check_key(&client) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        return Err(Refusal::RateLimited {
            retry_after_s: secs,
            message: format!(
                "more than {} requests per second (burst {}) from {client}; retry in {secs} s",
                live.settings.rate, live.settings.burst
            ),
        });
    }
    match &live.settings.token {
        Some(token) if path != OPEN_PATH && !authorized(headers, token) => {
            Err(Refusal::Unauthorized)
        }
        _ => Ok(()),
    }
}

/// One access line: no token, no query string (neither belongs in a log).
fn access_line(
    id: &str,
    client: SocketAddr,
    method: &str,
    path: &str,
    status: u16,
    started: Instant,
) -> String {
    serde_json::json!({
        "ts": ops_core::timefmt::now_rfc3339(),
        "event": "http.access",
        "source": "ops-status",
        "correlation_id": id,
        "remote": client.to_string(),
        "method": method,
        "path": path,
        "status": status,
        "duration_us": started.elapsed().as_micros() as u64,
    })
    .to_string()
}

async fn gate(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = correlation(req.headers());
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let live = shared.live();
    let mut response = match admit(&live, client.ip(), &path, req.headers()) {
        Err(refused) => refused.response(&id),
        Ok(()) => {
            req.extensions_mut().insert(Correlation(id.clone()));
            next.run(req).await
        }
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, v);
    }
    eprintln!(
        "{}",
        access_line(
            &id,
            client,
            &method,
            &path,
            response.status().as_u16(),
            started
        )
    );
    response
}

async fn health(
    State(s): State<Arc<Shared>>,
    Extension(Correlation(id)): Extension<Correlation>,
) -> Response {
    // Liveness: the process answers. Whether what it reports is good is /readiness.
    let p = s.published();
    let a = Answer {
        ok: true,
        data:
            serde_json::json!({"alive": true, "version": s.version, "snapshot_at": p.snapshot_at})
                .to_string(),
        error: "null".into(),
    };
    answer(&a, &id)
}

async fn readiness(
    State(s): State<Arc<Shared>>,
    Extension(Correlation(id)): Extension<Correlation>,
) -> Response {
    answer(&s.published().readiness, &id)
}

async fn backups(
    State(s): State<Arc<Shared>>,
    Extension(Correlation(id)): Extension<Correlation>,
) -> Response {
    answer(&s.published().backups, &id)
}

async fn restore(
    State(s): State<Arc<Shared>>,
    Extension(Correlation(id)): Extension<Correlation>,
) -> Response {
    answer(&s.published().restore, &id)
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    match &s.published().metrics {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text.clone(),
        )
            .into_response(),
        // No partial scrape: Prometheus sees the target fail, and the text says why.
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.clone()).into_response(),
    }
}

async fn not_found(Extension(Correlation(id)): Extension<Correlation>) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &id,
        "not_found",
        "no such endpoint: /health, /readiness, /backups/status, /restore/status, /metrics",
    )
}

/// The routes, behind the gate.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/readiness", get(readiness))
        .route("/backups/status", get(backups))
        .route("/restore/status", get(restore))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "t0k"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0k"),
        );
        assert!(authorized(&h, "t0k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t0"));
        assert!(!authorized(&h, "t0k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic t0k"));
        assert!(!authorized(&h, "t0k"));
    }

    #[test]
    fn a_valid_caller_id_is_kept_and_anything_else_replaced() {
        let mut h = HeaderMap::new();
        let fresh = correlation(&h);
        assert!(ops_core::event::is_valid_correlation_id(&fresh));
        h.insert(CORRELATION_HEADER, HeaderValue::from_str(&fresh).unwrap());
        assert_eq!(correlation(&h), fresh);
        h.insert(CORRELATION_HEADER, HeaderValue::from_static("\"}evil"));
        assert_ne!(correlation(&h), "\"}evil");
    }
}
