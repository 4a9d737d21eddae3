//! The `punctual` binary: parses flags and starts tasks; everything else lives in the library.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgAction, Parser, Subcommand};
use punctual::cli;
use punctual::operator::{self, FacadeSettings, LeaderSettings, Settings};
use punctual::rest::auth::AuthMode;
use punctual::scheduler::plan::Staging;
use punctual::telemetry::{self, LogFormat};
use punctual::{runner, scheduler};
use tokio::sync::watch;
use tracing::{info, warn};

#[derive(Parser)]
#[command(
    name = "punctual",
    version,
    about = "Scheduled and on-demand agent actions on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator: the scheduler and the runner, plus health and metrics endpoints.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions (the YAML committed in crds/).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Print the REST facade's OpenAPI 3.1 document (the one served at /openapi.json).
    Openapi,
    /// Trigger an Action now: create a manual run (as the kubeconfig's user).
    Trigger {
        /// The Action.
        action: String,
        #[command(flatten)]
        target: Target,
        /// Replace the payload for this run (a JSON object).
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        /// The conversation thread of this run.
        #[arg(long)]
        thread_id: Option<String>,
        /// An extra template variable, name=value (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Print the request the runner would send (the credential redacted), create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List an Action's runs, newest first.
    Runs {
        /// The Action.
        action: String,
        #[command(flatten)]
        target: Target,
    },
    /// Cancel a pending or running run (the runner aborts its request).
    Cancel {
        /// The ActionRun.
        run: String,
        #[command(flatten)]
        target: Target,
        /// Why (recorded in the run's errorMessage).
        #[arg(long, default_value = "by punctual cancel")]
        reason: String,
    },
    /// Print the next instants of a cron expression in a zone (Vixie cron semantics).
    Next {
        /// Five-field cron expression, e.g. "0 9 * * 1-5".
        expression: String,
        /// IANA zone.
        #[arg(long = "tz", default_value = "UTC")]
        zone: String,
        /// How many.
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
}

/// kubectl's conventions: the namespace and the output format.
#[derive(clap::Args)]
struct Target {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = cli::Output::Table)]
    output: cli::Output,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Run the scheduler (the Action controller that creates runs for due slots).
    #[arg(long, env = "PUNCTUAL_SCHEDULER", default_value_t = true, action = ArgAction::Set)]
    scheduler: bool,

    /// Run the runner (executes pending ActionRuns against their endpoints).
    #[arg(long, env = "PUNCTUAL_RUNNER", default_value_t = true, action = ArgAction::Set)]
    runner: bool,

    /// Create each scheduled run this many seconds before its slot (0: at the slot), so a busy
    /// minute's writes are spread over the minute before it; the request still goes at the slot.
    #[arg(long, env = "PUNCTUAL_STAGE_AHEAD_SECONDS", default_value_t = 60)]
    stage_ahead_seconds: u32,

    /// Write a run as `running` only when its request takes longer than this (milliseconds); a
    /// quicker request goes straight to its outcome, one write instead of two.
    #[arg(long, env = "PUNCTUAL_RUNNING_AFTER_MS", default_value_t = 2000)]
    running_after_ms: u64,

    /// At most this many requests to endpoints in flight at once, across all runs.
    #[arg(long, env = "PUNCTUAL_MAX_CONCURRENT_REQUESTS", default_value_t = 64)]
    max_concurrent_requests: usize,

    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "PUNCTUAL_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,

    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "PUNCTUAL_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    metrics_addr: SocketAddr,

    /// Only the holder of a coordination.k8s.io Lease schedules; turn on with more than one replica.
    #[arg(long, env = "PUNCTUAL_LEADER_ELECTION", default_value_t = false, action = ArgAction::Set)]
    leader_election: bool,

    /// Name of the leader-election Lease.
    #[arg(long, env = "PUNCTUAL_LEASE_NAME", default_value = "punctual-leader")]
    lease_name: String,

    /// Namespace of the leader-election Lease (in a cluster: the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,

    /// Seconds a leader's lease lasts without renewal; a successor takes over after this.
    #[arg(long, env = "PUNCTUAL_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,

    /// This replica's identity in the Lease (default: POD_NAME, else hostname and a random suffix).
    #[arg(long, env = "PUNCTUAL_IDENTITY")]
    identity: Option<String>,

    /// Actions reconciled at the same time.
    #[arg(long, env = "PUNCTUAL_RECONCILE_CONCURRENCY", default_value_t = 32)]
    reconcile_concurrency: u16,

    /// Serve the REST facade (on every replica; it is not leader-gated).
    #[arg(long, env = "PUNCTUAL_FACADE", default_value_t = true, action = ArgAction::Set)]
    facade: bool,

    /// Address of the REST facade.
    #[arg(long, env = "PUNCTUAL_FACADE_ADDR", default_value = "0.0.0.0:8080")]
    facade_addr: SocketAddr,

    /// The facade's base URL as endpoints reach it, for the callback URL of an endpoint that
    /// answers 202 (docs/agent-calls.md). Default: http://<facade-addr>, with 127.0.0.1 for an
    /// unspecified address; in a cluster, the Service's URL (the chart sets it).
    #[arg(long, env = "PUNCTUAL_PUBLIC_URL")]
    public_url: Option<String>,

    /// The key callback tokens are signed with: the same on every replica and across restarts
    /// (the chart keeps it in a Secret). Without it, a random key per process: a callback then
    /// fails after a restart.
    #[arg(long, env = "PUNCTUAL_CALLBACK_KEY", hide_env_values = true)]
    callback_key: Option<String>,

    /// How the facade checks callers: kube (TokenReview and SubjectAccessReview) or none (local
    /// development; refused unless --facade-addr is a loopback address).
    #[arg(long, env = "PUNCTUAL_AUTH", value_enum, default_value_t = AuthMode::Kube)]
    auth: AuthMode,

    /// For tests only: seconds added to this process's wall clock wherever it reads "now" (Lease
    /// timestamps, slots, retries), to run a replica with a skewed clock. Never set in production.
    #[arg(
        long,
        env = "PUNCTUAL_CLOCK_OFFSET_SECONDS",
        default_value_t = 0,
        hide = true,
        allow_hyphen_values = true
    )]
    clock_offset_seconds: i64,

    /// Export spans (each run's slot and attempts, the facade's requests) over OTLP/HTTP
    /// protobuf to this base URL, e.g. http://otel-collector:4318 (`/v1/traces` is appended).
    /// Off when unset.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,

    /// Sent as `tracestate` with every request to an endpoint, and set on exported spans: a W3C
    /// tracestate list, e.g. `punctual=cluster-a`.
    #[arg(long, env = "PUNCTUAL_TRACE_STATE")]
    trace_state: Option<String>,

    /// Log format: json (structured, the default) or text (for a terminal).
    #[arg(long, env = "PUNCTUAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { out_dir } => print_crds(out_dir),
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&punctual::rest::openapi::document())?
            );
            Ok(())
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            // The exporter's requests run on the runtime, so it starts inside it.
            let otel = {
                let _inside = runtime.enter();
                start_otel(&args)?
            };
            telemetry::init(args.log_format, otel.as_deref());
            let result = runtime.block_on(run(*args, otel.clone()));
            // Send the spans still queued before the process exits.
            if let Some(otel) = otel {
                otel.shutdown();
            }
            result
        }
        Command::Next {
            expression,
            zone,
            count,
        } => {
            print!(
                "{}",
                cli::next(&expression, &zone, count, chrono::Utc::now())?
            );
            Ok(())
        }
        command => {
            let out = tokio::runtime::Runtime::new()?.block_on(against_the_cluster(command))?;
            print!("{out}");
            Ok(())
        }
    }
}

/// The commands that talk to the cluster of KUBECONFIG.
async fn against_the_cluster(command: Command) -> anyhow::Result<String> {
    // The kube client's TLS (rustls) needs its crypto provider chosen once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match command {
        Command::Trigger {
            action,
            target,
            payload,
            thread_id,
            vars,
            dry_run,
        } => {
            let (client, ns) = cli::connect(target.namespace).await?;
            let payload = payload
                .map(|p| serde_json::from_str(&p).context("--payload must be a JSON object"))
                .transpose()?;
            let overrides = punctual::runspec::Overrides {
                payload,
                thread_id,
                variables: cli::parse_vars(&vars)?,
                rerun_of: None,
            };
            cli::trigger(&client, &ns, &action, &overrides, dry_run, target.output).await
        }
        Command::Runs { action, target } => {
            let (client, ns) = cli::connect(target.namespace).await?;
            cli::runs(&client, &ns, &action, target.output).await
        }
        Command::Cancel {
            run,
            target,
            reason,
        } => {
            let (client, ns) = cli::connect(target.namespace).await?;
            cli::cancel(&client, &ns, &run, &reason).await
        }
        _ => Ok(String::new()),
    }
}

fn print_crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let docs = punctual::resources::crds_yaml()?;
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for (file, yaml) in docs {
                std::fs::write(dir.join(file), yaml)?;
            }
        }
        None => {
            for (_, yaml) in docs {
                print!("---\n{yaml}");
            }
        }
    }
    Ok(())
}

/// The OTLP exporter, if an endpoint is configured; the trace state is checked either way.
fn start_otel(args: &RunArgs) -> anyhow::Result<Option<Arc<punctual::otel::Otel>>> {
    if let Some(state) = &args.trace_state {
        punctual::otel::trace_state(state)?;
    }
    let Some(endpoint) = args
        .otlp_endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    else {
        return Ok(None);
    };
    let otel = punctual::otel::Otel::start(endpoint, args.trace_state.as_deref())?;
    Ok(Some(Arc::new(otel)))
}

async fn run(args: RunArgs, otel: Option<Arc<punctual::otel::Otel>>) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client: set KUBECONFIG or run in a cluster")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let callbacks = Arc::new(callbacks(&args));
    let settings = Settings {
        namespace: args.watch_namespace.clone(),
        metrics_addr: args.metrics_addr,
        facade: args.facade.then_some(FacadeSettings {
            addr: args.facade_addr,
            auth: args.auth,
            callbacks: callbacks.clone(),
            trace_state: args.trace_state.clone(),
        }),
        // The Action controller runs with either: it counts finished runs and writes the Action
        // status; --scheduler decides whether it also fires slots.
        actions: (args.scheduler || args.runner).then_some(scheduler::controller::Config {
            concurrency: args.reconcile_concurrency,
            staging: Staging {
                lead: chrono::Duration::seconds(args.stage_ahead_seconds.into()),
                fire: args.scheduler,
            },
        }),
        runner: args.runner.then_some(runner::controller::Config {
            max_concurrent_requests: args.max_concurrent_requests,
            service_mode: runner::target::ServiceMode::detect(),
            running_after: Duration::from_millis(args.running_after_ms),
            callbacks,
            tracing: runner::trace::Tracing {
                state: args.trace_state.clone(),
                sink: otel.map(|o| o as Arc<dyn punctual::otel::SpanSink>),
            },
        }),
        leader: args.leader_election.then(|| LeaderSettings {
            identity: args.identity.clone().unwrap_or_else(default_identity),
            lease_namespace: args.lease_namespace.clone(),
            lease_name: args.lease_name.clone(),
            lease_duration: Duration::from_secs(args.lease_duration_seconds.max(2)),
        }),
        clock_offset: chrono::TimeDelta::try_seconds(args.clock_offset_seconds)
            .context("--clock-offset-seconds is out of range")?,
    };
    operator::run(client, settings, stop_rx).await
}

/// The callback key and URL (docs/agent-calls.md).
fn callbacks(args: &RunArgs) -> punctual::callback::Callbacks {
    let key = match &args.callback_key {
        Some(k) => k.as_bytes().to_vec(),
        None => {
            warn!(
                "no --callback-key: a random one for this process; callbacks of 202 calls fail after a restart"
            );
            let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
            random.iter().flat_map(|u| *u.as_bytes()).collect()
        }
    };
    let public_url = args.public_url.clone().or_else(|| {
        args.facade.then(|| {
            let mut addr = args.facade_addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        })
    });
    punctual::callback::Callbacks::new(&key, public_url.as_deref())
}

fn default_identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "punctual".into());
        format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag of `punctual run` is documented and has an environment variable form, so the
    /// Helm chart (and anyone else) can configure the operator through the environment.
    #[test]
    fn every_run_flag_has_help_and_an_environment_variable() {
        let cli = Cli::command();
        let run = cli
            .get_subcommands()
            .find(|c| c.get_name() == "run")
            .expect("a run subcommand");
        let flags: Vec<_> = run
            .get_arguments()
            .filter(|a| a.get_id() != "help")
            .collect();
        assert!(flags.len() >= 10, "run has its flags");
        for flag in flags {
            let name = flag.get_id();
            assert!(
                flag.get_env().is_some(),
                "--{name} has no environment variable"
            );
            assert!(flag.get_help().is_some(), "--{name} has no help text");
        }
    }
}
