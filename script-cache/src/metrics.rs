//! The `opentelemetry` feature: OpenTelemetry metrics through the
//! `opentelemetry` crate's metrics API, enabled per state with
//! [`ScriptState::enable_metrics`](crate::ScriptState::enable_metrics).
//! No SDK and no exporter are chosen here: the application builds its
//! `MeterProvider` (and so its exporter) and hands a `Meter` over.
//!
//! * `db.client.operation.duration` (histogram, seconds, the database
//!   client conventions' bucket boundaries): one measurement per script
//!   call, pipeline and transaction, with the attributes of its span
//!   (`db.system.name`, `db.operation.name`, `db.stored_procedure.name`,
//!   `db.operation.batch.size`, `db.namespace`, `server.address`,
//!   `server.port`, and on failure `error.type` and
//!   `db.response.status_code`), never a key, an argument or a script's
//!   source;
//! * the [`Stats`](crate::Stats) counters as observable counters, read
//!   from the state when the SDK collects (nothing per call).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, ObservableCounter};

/// The bucket boundaries the database client conventions give for
/// `db.client.operation.duration`, in seconds.
pub(crate) const DURATION_BOUNDARIES: [f64; 9] =
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The instruments of one state.
pub(crate) struct Metrics {
    duration: Histogram<f64>,
    /// Kept with the state (the SDK calls their callbacks).
    _counters: Vec<ObservableCounter<u64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The observable counters: name, unit, description, and how to read the
/// value (and its attributes) from the state's [`Stats`](crate::Stats).
/// A value with its `script_cache.ran` attribute, if any.
type Reading = fn(&crate::Stats) -> Vec<(u64, Option<&'static str>)>;

fn one(value: u64) -> Vec<(u64, Option<&'static str>)> {
    vec![(value, None)]
}

const COUNTERS: [(&str, &str, &str, Reading); 11] = [
    (
        "script_cache.loads",
        "{load}",
        "SCRIPT LOADs the server confirmed",
        |s| one(s.loads),
    ),
    (
        "script_cache.surveys",
        "{survey}",
        "SCRIPT EXISTS surveys a fresh state sent with its first call on a node",
        |s| one(s.surveys),
    ),
    (
        "script_cache.reloads",
        "{reload}",
        "Confirmed scripts that met NOSCRIPT (flush, restart, failover) and were reloaded",
        |s| one(s.reloads),
    ),
    (
        "script_cache.calls",
        "{call}",
        "Script calls sent (EVALSHA / EVALSHA_RO), retries included",
        |s| one(s.calls),
    ),
    (
        "script_cache.atomic_retries",
        "{call}",
        "Calls retried after NOSCRIPT as one EVAL with the source",
        |s| one(s.atomic_retries),
    ),
    (
        "script_cache.refused_loads",
        "{load}",
        "SCRIPT LOADs refused for lack of permission (NOPERM)",
        |s| one(s.refused_loads),
    ),
    (
        "script_cache.sha_mismatches",
        "{load}",
        "SCRIPT LOADs answered with another SHA-1 than the one computed at build time",
        |s| one(s.sha_mismatches),
    ),
    (
        "script_cache.failed_calls",
        "{call}",
        "Failed single calls, by whether the script ran (script_cache.ran: yes, no, unknown)",
        |s| {
            vec![
                (s.failed_ran, Some("yes")),
                (s.failed_not_run, Some("no")),
                (s.failed_unknown, Some("unknown")),
            ]
        },
    ),
    (
        "script_cache.slot_map_refreshes",
        "{refresh}",
        "Cluster slot maps (CLUSTER SLOTS replies) stored",
        |s| one(s.slot_map_refreshes),
    ),
    (
        "script_cache.libraries_replaced",
        "{library}",
        "Function libraries found on the server with other code under their name and replaced",
        |s| one(s.libraries_replaced),
    ),
    (
        "script_cache.replica_fallbacks",
        "{call}",
        "FCALL_RO calls a cluster replica answered \"Function not found\", sent to the primary",
        |s| one(s.replica_fallbacks),
    ),
];

/// Reads a state's counters for the observable counters: `None` once the
/// state is dropped. A function, so this module does not depend on the
/// state's (the state holds the instruments).
pub(crate) type StatsReader = Arc<dyn Fn() -> Option<crate::Stats> + Send + Sync>;

impl Metrics {
    /// The instruments of a state, created with `meter`; `stats` reads the
    /// state's counters, or `None` once the state is dropped.
    pub(crate) fn new(meter: &Meter, stats: StatsReader) -> Metrics {
        let duration = meter
            .f64_histogram("db.client.operation.duration")
            .with_unit("s")
            .with_description("Duration of database client operations.")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        let counters = COUNTERS
            .iter()
            .map(|&(name, unit, description, read)| {
                let stats = Arc::clone(&stats);
                meter
                    .u64_observable_counter(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(move |observer| {
                        // A state dropped since: nothing to report.
                        if let Some(stats) = stats() {
                            for (value, ran) in read(&stats) {
                                match ran {
                                    Some(ran) => observer
                                        .observe(value, &[KeyValue::new("script_cache.ran", ran)]),
                                    None => observer.observe(value, &[]),
                                }
                            }
                        }
                    })
                    .build()
            })
            .collect();
        Metrics {
            duration,
            _counters: counters,
        }
    }

    /// One operation ended after `elapsed`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn operation(
        &self,
        elapsed: Duration,
        procedure: Option<&str>,
        command: &'static str,
        batch: usize,
        server: &Option<(std::sync::Arc<str>, Option<u16>)>,
        db: Option<i64>,
        error: Option<&crate::Error>,
    ) {
        let mut attributes = Vec::with_capacity(9);
        attributes.push(KeyValue::new("db.system.name", "redis"));
        attributes.push(KeyValue::new("db.operation.name", command));
        if let Some(name) = procedure {
            attributes.push(KeyValue::new("db.stored_procedure.name", name.to_owned()));
        }
        if batch >= 2 {
            attributes.push(KeyValue::new("db.operation.batch.size", batch as i64));
        }
        if let Some(db) = db {
            attributes.push(KeyValue::new("db.namespace", db.to_string()));
        }
        if let Some((address, port)) = server {
            attributes.push(KeyValue::new("server.address", address.to_string()));
            if let Some(port) = port {
                attributes.push(KeyValue::new("server.port", i64::from(*port)));
            }
        }
        if let Some(e) = error {
            attributes.push(KeyValue::new("error.type", e.error_type().to_owned()));
            if let Some(code) = e.status_code() {
                attributes.push(KeyValue::new("db.response.status_code", code.to_owned()));
            }
        }
        self.duration.record(elapsed.as_secs_f64(), &attributes);
    }
}
