//! A stand-in for an AI agent's HTTP endpoint, for the demo (`make run`) and the end-to-end tests.
//!
//! It records every invocation (in memory, and optionally as JSON lines in a file) and answers as
//! the request path says: `/status/{code}`, `/flaky/{n}`, `/sleep/{seconds}`, `/big`; any other
//! path echoes the request. `GET /_invocations` shows what was received. See README-endpoint.md.
//!
//! Run with `cargo run --example endpoint -- --listen 127.0.0.1:0 --token secret`.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

/// Longest `/sleep/{seconds}` honoured, so a typo cannot park a request for days.
const MAX_SLEEP_SECS: f64 = 3600.0;
/// Size of the `/big` response body: larger than the operator keeps of a response.
const BIG_BODY_BYTES: usize = 10 * 1024;
/// After Ctrl-C / SIGTERM, how long in-flight requests (say a long `/sleep`) may still run.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Headers recorded besides `x-*` ones; `authorization` is recorded only as `<redacted>`.
const RECORDED_HEADERS: [&str; 3] = ["idempotency-key", "content-type", "user-agent"];

#[derive(Parser)]
#[command(about = "A fake AI agent endpoint that records what it receives")]
struct Args {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "ENDPOINT_LISTEN", default_value = "127.0.0.1:8088")]
    listen: String,
    /// Append one JSON line per invocation to this file.
    #[arg(long, env = "ENDPOINT_RECORD", value_name = "FILE")]
    record: Option<PathBuf>,
    /// Require `Authorization: Bearer <TOKEN>` on invocation routes (401 otherwise).
    #[arg(long, env = "ENDPOINT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Log lines (on stderr) as plain text or as JSON objects.
    #[arg(long, env = "ENDPOINT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

/// One received request, as `GET /_invocations` returns it and the record file stores it.
#[derive(Clone, Serialize)]
struct Invocation {
    n: u64,
    received_at: String,
    method: String,
    path: String,
    /// Lowercased names; only `RECORDED_HEADERS`, `x-*` and a redacted `authorization`.
    headers: BTreeMap<String, String>,
    /// Whether the bearer token matched `--token`; `null` when no token is configured.
    authorized: Option<bool>,
    body: Value,
}

struct App {
    token: Option<String>,
    // One lock for all of it, so numbers, memory and file lines stay in the same order.
    state: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    received: u64,
    invocations: Vec<Invocation>,
    /// Requests seen on `/flaky/{n}` per `Idempotency-Key`.
    flaky_seen: HashMap<String, u32>,
    file: Option<tokio::fs::File>,
}

/// How an invocation route answers, decided by its path.
enum Behaviour {
    Echo,
    Status(StatusCode),
    Flaky(u32),
    Sleep(Duration),
    Big,
    /// Answer 202 Accepted, then report `succeeded` to the callback URL after this long, as a
    /// long-running agent does.
    Agent(Duration),
}

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest (for /agent's callbacks) is built without a default TLS crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    init_logging(args.log_format);
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut recorded = Recorded::default();
    if let Some(path) = &args.record {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await;
        recorded.file =
            Some(file.with_context(|| format!("cannot open record file {}", path.display()))?);
    }
    let app = Arc::new(App {
        token: args.token,
        state: Mutex::new(recorded),
    });
    let router = Router::new()
        .route(
            "/_invocations",
            get(list_invocations).delete(clear_invocations),
        )
        .route("/healthz", get(|| async { "ok" }))
        .fallback(invoke)
        .with_state(app);

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    // Tests read this line to learn the port, so it is all that goes to stdout (logs: stderr).
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}").and_then(|()| stdout.flush())?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(());
    });
    // Graceful shutdown waits for open requests; a `/sleep/3600` must not hold it up for long.
    let grace_over = async {
        if stop_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    tokio::select! {
        result = server.into_future() => result.context("server failed")?,
        () = grace_over => warn!("requests still open {SHUTDOWN_GRACE:?} after the signal"),
    }
    info!("stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal()); // no colour codes in captured logs
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    // A signal that cannot be watched is reported, and the other one still stops the server.
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let sigterm = async {
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(e) => {
                error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = sigterm => {}
    }
    info!("shutdown signal received");
}

/// Every path but the admin routes. The work runs in its own task so that it completes, and is
/// logged, even when the client hangs up first (as a client timing out on `/sleep` does).
async fn invoke(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let work = tokio::spawn(async move { app.handle(&method, uri.path(), &headers, &body).await });
    work.await.unwrap_or_else(|e| {
        error!("invocation handler failed: {e}");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}

impl App {
    /// Records the request, checks the token, answers as the path says, and logs one line.
    async fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let authorized = self
            .token
            .as_deref()
            .map(|token| bearer_matches(headers, token));
        let inv = self.record(method, path, headers, authorized, body).await;
        let response = match (authorized, behaviour_for(path)) {
            (Some(false), _) => {
                let error = "missing or wrong bearer token";
                let body = Json(json!({"ok": false, "invocation": inv.n, "error": error}));
                let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
                (StatusCode::UNAUTHORIZED, challenge, body).into_response()
            }
            (_, Err(error)) => {
                let body = json!({"ok": false, "invocation": inv.n, "error": error});
                reply(StatusCode::BAD_REQUEST, body)
            }
            (_, Ok(Behaviour::Agent(after))) => agent(after, headers, &inv),
            (_, Ok(behaviour)) => self.respond(behaviour, &inv).await,
        };
        let header = |name: &str| inv.headers.get(name).map_or("-", String::as_str).to_owned();
        info!(
            n = inv.n,
            %method,
            path,
            status = response.status().as_u16(),
            run = header("x-punctual-run"),
            attempt = header("x-punctual-attempt"),
            execution_id = header("x-execution-id"),
            "invocation"
        );
        response
    }

    /// Numbers and stores the request, in memory and in the record file.
    async fn record(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        authorized: Option<bool>,
        body: &[u8],
    ) -> Invocation {
        let mut state = self.state.lock().await;
        state.received += 1;
        let inv = Invocation {
            n: state.received,
            received_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            method: method.to_string(),
            path: path.to_owned(),
            headers: recorded_headers(headers),
            authorized,
            body: body_as_json(body),
        };
        state.invocations.push(inv.clone());
        if let Some(file) = state.file.as_mut() {
            // A failed write should not change what the caller sees; the log says so instead.
            if let Err(e) = append_line(file, &inv).await {
                error!("cannot append invocation {} to the record file: {e}", inv.n);
            }
        }
        inv
    }

    async fn respond(&self, behaviour: Behaviour, inv: &Invocation) -> Response {
        let status = |code: StatusCode| {
            let ok = code.is_success();
            reply(
                code,
                json!({"ok": ok, "invocation": inv.n, "status": code.as_u16()}),
            )
        };
        match behaviour {
            Behaviour::Echo => echo(inv),
            Behaviour::Status(code) => status(code),
            Behaviour::Flaky(failures) => {
                let key = inv
                    .headers
                    .get("idempotency-key")
                    .cloned()
                    .unwrap_or_default();
                let mut state = self.state.lock().await;
                let seen = state.flaky_seen.entry(key).or_insert(0);
                *seen += 1;
                if *seen <= failures {
                    status(StatusCode::INTERNAL_SERVER_ERROR)
                } else {
                    echo(inv)
                }
            }
            Behaviour::Sleep(duration) => {
                tokio::time::sleep(duration).await;
                echo(inv)
            }
            Behaviour::Big => big(inv.n),
            // Answered by `agent` in `handle`, which has the request's headers.
            Behaviour::Agent(_) => echo(inv),
        }
    }
}

async fn append_line(file: &mut tokio::fs::File, inv: &Invocation) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(inv)?;
    line.push(b'\n');
    file.write_all(&line).await?;
    file.flush().await
}

/// Reads `/status/{code}`, `/flaky/{n}`, `/sleep/{seconds}` and `/big`; anything else echoes.
fn behaviour_for(path: &str) -> Result<Behaviour, String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["status", code] => match code.parse::<u16>().map(StatusCode::from_u16) {
            Ok(Ok(code)) if (200..=599).contains(&code.as_u16()) => Ok(Behaviour::Status(code)),
            _ => Err(format!(
                "status must be a number from 200 to 599, not {code:?}"
            )),
        },
        ["flaky", n] => n
            .parse()
            .map(Behaviour::Flaky)
            .map_err(|_| format!("flaky count must be a whole number, not {n:?}")),
        ["sleep", secs] => match secs.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => {
                let capped = s.min(MAX_SLEEP_SECS);
                Ok(Behaviour::Sleep(Duration::from_secs_f64(capped)))
            }
            _ => Err(format!("sleep seconds must be a number >= 0, not {secs:?}")),
        },
        ["big"] => Ok(Behaviour::Big),
        ["agent", secs] => match secs.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Behaviour::Agent(Duration::from_secs_f64(
                s.min(MAX_SLEEP_SECS),
            ))),
            _ => Err(format!("agent seconds must be a number >= 0, not {secs:?}")),
        },
        _ => Ok(Behaviour::Echo),
    }
}

fn reply(code: StatusCode, body: Value) -> Response {
    (code, Json(body)).into_response()
}

fn echo(inv: &Invocation) -> Response {
    let body = json!({
        "ok": true,
        "invocation": inv.n,
        "received_at": inv.received_at,
        "thread_id": inv.headers.get("x-thread-id"),
        "echo": inv.body,
    });
    reply(StatusCode::OK, body)
}

/// A JSON object of exactly `BIG_BODY_BYTES` bytes, padded with a long string.
fn big(n: u64) -> Response {
    let head = format!(r#"{{"ok":true,"invocation":{n},"padding":""#);
    let tail = r#""}"#;
    let padding = "x".repeat(BIG_BODY_BYTES.saturating_sub(head.len() + tail.len()));
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{head}{padding}{tail}"),
    )
        .into_response()
}

/// 202 Accepted now; `succeeded` reported to `X-Punctual-Callback-URL` with the request's
/// `X-Punctual-Callback-Token` after `after`, from a task of its own (docs/agent-calls.md).
fn agent(after: Duration, headers: &HeaderMap, inv: &Invocation) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(url), Some(token)) = (
        header("x-punctual-callback-url"),
        header("x-punctual-callback-token"),
    ) else {
        let error = "no X-Punctual-Callback-URL / X-Punctual-Callback-Token to report to";
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": error}),
        );
    };
    let n = inv.n;
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let report = json!({"status": "succeeded", "output": format!("invocation {n} done")});
        let sent = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(report.to_string())
            .send()
            .await;
        match sent {
            Ok(r) => info!(
                n,
                status = r.status().as_u16(),
                "reported to the callback URL"
            ),
            Err(e) => error!(n, "could not report to the callback URL: {e}"),
        }
    });
    reply(
        StatusCode::ACCEPTED,
        json!({"ok": true, "invocation": n, "accepted": true}),
    )
}

/// The headers worth inspecting; the Authorization value and the callback token are never
/// stored.
fn recorded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let wanted = |name: &str| name.starts_with("x-") || RECORDED_HEADERS.contains(&name);
    let value = |name: &str| {
        let values: Vec<_> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        values.join(", ")
    };
    // Header names from the http crate are already lowercase.
    headers
        .keys()
        .map(|name| name.as_str())
        .filter_map(|name| match name {
            "authorization" | "x-punctual-callback-token" => {
                Some((name.to_owned(), "<redacted>".to_owned()))
            }
            _ if wanted(name) => Some((name.to_owned(), value(name))),
            _ => None,
        })
        .collect()
}

/// The body as JSON if it parses, else as a string; an empty body is `null`.
fn body_as_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body).unwrap_or_else(|_| String::from_utf8_lossy(body).into())
}

/// True if the request carries `Authorization: Bearer <token>` (the scheme in any case).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .is_some_and(|(scheme, given)| {
            scheme.eq_ignore_ascii_case("bearer") && given.trim() == token
        })
}

#[derive(Deserialize)]
struct RunFilter {
    /// Keep only invocations whose `X-Punctual-Run` header equals this.
    run: Option<String>,
}

async fn list_invocations(
    State(app): State<Arc<App>>,
    Query(filter): Query<RunFilter>,
) -> Json<Vec<Invocation>> {
    let state = app.state.lock().await;
    let wanted = |inv: &&Invocation| {
        filter.run.is_none() || inv.headers.get("x-punctual-run") == filter.run.as_ref()
    };
    Json(state.invocations.iter().filter(wanted).cloned().collect())
}

/// Forgets recorded invocations and flaky counters (numbering goes on; the file is kept).
async fn clear_invocations(State(app): State<Arc<App>>) -> StatusCode {
    let mut state = app.state.lock().await;
    state.invocations.clear();
    state.flaky_seen.clear();
    StatusCode::NO_CONTENT
}
