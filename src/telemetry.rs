//! Logging: JSON lines on standard output, one per event, with the request id of the span.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` (or `KARADA_LOG`) sets the filter; default `info`.
pub fn init() {
    let filter = std::env::var("KARADA_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .try_init();
}
