//! Logging: structured JSON by default (one object per line, with span fields), or
//! human-readable text for a terminal; and, with an OTLP exporter, the bridge that exports the
//! facade's request spans (`crate::otel`).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Installs the global subscriber. The level comes from RUST_LOG (default `info`).
pub fn init(format: LogFormat, otel: Option<&crate::otel::Otel>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(otel.map(|o| o.layer()));
    match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .init(),
        LogFormat::Text => registry.with(fmt::layer().compact()).init(),
    }
}
