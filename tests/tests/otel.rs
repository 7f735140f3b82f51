//! Spans (the `tracing` feature) and metrics (the `opentelemetry` feature)
//! against real servers, in OpenTelemetry's database client conventions.
//!
//! Two ways to look at them, on every flavor:
//!
//! * `tracing-subscriber` with a layer that keeps each closed span's
//!   fields and the events emitted inside it: a call (sync and async), a
//!   failed call (a script's own error code), a pipeline, a transaction,
//!   a recovery after `SCRIPT FLUSH` (the reload is an event of the call's
//!   span), a cluster call (the span names the node that ran it);
//! * the OpenTelemetry SDK's in-memory exporters: spans through
//!   `tracing-opentelemetry` (name, kind, status, attributes) and the
//!   metrics (`db.client.operation.duration` and the `Stats` counters), then
//!   a search of everything exported for a call's secret-looking key and
//!   argument, which must be absent.
//!
//! Subscribers are set as the thread's default, so each test sees its own
//! spans (async bodies run on the `block_on` thread and spawn nothing).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use script_cache::{ScriptCache, ScriptState, pipe};
use script_cache_tests::cluster::TestCluster;
use script_cache_tests::{Flavor, TestServer, functions_matrix, matrix, runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

script_cache::include_scripts!("fixtures/guarantees");

/// A function library (`Functions`), for the spans of `FCALL` calls.
mod library {
    script_cache::include_scripts!("functions-lua");
}

/// A key no span or metric may show.
const KEY: &str = "otel:key-4b7d21";
/// A secret-looking key and argument for the search of exported data.
const SECRET_KEY: &str = "user:8812:token-Zq93xKf0";
const SECRET_ARG: &str = "pw-hunter2-77c1e0";

/// A closed span with target `script_cache`: its fields and the messages
/// of the events emitted inside it.
#[derive(Clone, Debug, Default)]
struct Closed {
    name: String,
    fields: BTreeMap<String, String>,
    events: Vec<String>,
}

impl Closed {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("<missing>", String::as_str)
    }
}

#[derive(Default)]
struct Fields<'a>(Option<&'a mut BTreeMap<String, String>>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(map) = self.0.as_mut() {
            map.insert(field.name().to_owned(), value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if let Some(map) = self.0.as_mut() {
            map.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
}

/// Keeps the closed `script_cache` spans.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Closed>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != "script_cache" {
            return;
        }
        let mut closed = Closed {
            name: attrs.metadata().name().to_owned(),
            ..Closed::default()
        };
        attrs.record(&mut Fields(Some(&mut closed.fields)));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(closed);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(closed) = span.extensions_mut().get_mut::<Closed>()
        {
            values.record(&mut Fields(Some(&mut closed.fields)));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.event_span(event)
            && let Some(closed) = span.extensions_mut().get_mut::<Closed>()
        {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(Some(&mut fields)));
            closed
                .events
                .push(fields.remove("message").unwrap_or_default());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(closed) = span.extensions_mut().remove::<Closed>()
        {
            self.0.lock().unwrap().push(closed);
        }
    }
}

impl Spans {
    /// The spans closed since the last call.
    fn take(&self) -> Vec<Closed> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The one span closed since the last call.
    fn one(&self) -> Closed {
        let mut spans = self.take();
        assert_eq!(spans.len(), 1, "one span expected: {spans:?}");
        spans.pop().unwrap()
    }
}

/// Starts collecting this thread's spans (until the guard is dropped).
fn capture() -> (Spans, tracing::subscriber::DefaultGuard) {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    (spans, tracing::subscriber::set_default(subscriber))
}

/// Asserts the attributes every span of an operation on `port` has.
fn assert_client(span: &Closed, port: u16) {
    assert_eq!(span.field("otel.kind"), "client", "{span:?}");
    assert_eq!(span.field("db.system.name"), "redis", "{span:?}");
    assert_eq!(span.field("server.address"), "127.0.0.1", "{span:?}");
    assert_eq!(span.field("server.port"), port.to_string(), "{span:?}");
    assert_eq!(span.field("db.namespace"), "0", "{span:?}");
}

/// Asserts a successful script call's span: `command` is the command
/// last sent; the span's name is the one the call started with (the same
/// but for an `EVAL` retry, named `EVALSHA`).
fn assert_call(span: &Closed, command: &str, script: &str, port: u16) {
    assert_eq!(span.name, "script call");
    assert_client(span, port);
    assert_eq!(span.field("db.operation.name"), command, "{span:?}");
    assert_eq!(span.field("db.stored_procedure.name"), script, "{span:?}");
    let planned = match command {
        "EVAL" => "EVALSHA",
        "EVAL_RO" => "EVALSHA_RO",
        other => other,
    };
    assert_eq!(
        span.field("otel.name"),
        format!("{planned} {script}"),
        "{span:?}"
    );
    for absent in ["error.type", "db.response.status_code", "otel.status_code"] {
        assert!(
            !span.fields.contains_key(absent),
            "{absent} on a success: {span:?}"
        );
    }
}

/// No field of any span holds a key or an argument of a call.
fn assert_no_values(spans: &[Closed], values: &[&str]) {
    for span in spans {
        for (name, value) in &span.fields {
            for v in values {
                assert!(!value.contains(v), "field {name} of {span:?} holds {v}");
            }
        }
    }
}

fn flush(server: &TestServer) {
    let mut c = server.connection();
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut c)
        .expect("SCRIPT FLUSH");
}

/// A script that fails with its own error code.
const BOOM: &str = "return redis.error_reply('BOOM the counter is broken')";

matrix! {
    /// Sync: a call (first, then steady), a failed call, a recovery after
    /// `SCRIPT FLUSH`, a pipeline and a transaction, one span each.
    fn spans_sync(server) {
        let (spans, _guard) = capture();
        let port = server.port();
        let client = server.client();
        let mut con = ScriptCache::new(server.connection()).with_server(client.get_connection_info().addr());

        // The first call: the survey, then SCRIPT LOAD + EVALSHA in one
        // request; both are events of the call's span.
        assert_eq!(Scripts::incr_by(KEY, 5).invoke(&mut con).expect("first"), 5);
        let first = spans.one();
        assert_call(&first, "EVALSHA", "incr_by", port);
        // A fresh state's first call surveys the node's scripts, then loads.
        assert_eq!(first.events, ["scripts surveyed", "script loaded"], "{first:?}");

        // Steady: EVALSHA alone, no event.
        assert_eq!(Scripts::incr_by(KEY, 5).invoke(&mut con).expect("steady"), 10);
        let steady = spans.one();
        assert_call(&steady, "EVALSHA", "incr_by", port);
        assert!(steady.events.is_empty(), "{steady:?}");

        // A read-only script: EVALSHA_RO where the server has it (the
        // first call asks the server what it supports; the span of the next
        // one is named with the command).
        assert_eq!(Scripts::read_counter(KEY).invoke(&mut con).expect("read"), 10);
        let _ = spans.one();
        assert_eq!(Scripts::read_counter(KEY).invoke(&mut con).expect("read"), 10);
        let read = spans.one();
        let ro = if server.flavor() == Flavor::Redis62 { "EVALSHA" } else { "EVALSHA_RO" };
        assert_call(&read, ro, "read_counter", port);

        // A failed call: the script's own error code.
        con.register_script("boom", BOOM).expect("register");
        let err = con.run_script::<i64>("boom", &[KEY], &[] as &[&str]).expect_err("BOOM");
        assert_eq!(err.ran(), script_cache::Ran::Yes, "{err}");
        let failed = spans.one();
        assert_eq!(failed.field("db.stored_procedure.name"), "boom");
        assert_eq!(failed.field("error.type"), "BOOM", "{failed:?}");
        assert_eq!(failed.field("db.response.status_code"), "BOOM", "{failed:?}");
        assert_eq!(failed.field("otel.status_code"), "ERROR", "{failed:?}");
        assert_client(&failed, port);

        // A pipeline of three entries.
        let mut p = pipe();
        p.invoke(Scripts::incr(KEY)).invoke(Scripts::incr_by(KEY, 2)).invoke(Scripts::read_counter(KEY));
        let _: (i64, i64, i64) = p.query(&mut con).expect("pipeline");
        let piped = spans.one();
        assert_eq!(piped.name, "script batch");
        assert_client(&piped, port);
        assert_eq!(piped.field("db.operation.name"), "PIPELINE", "{piped:?}");
        assert_eq!(piped.field("otel.name"), "PIPELINE", "{piped:?}");
        assert_eq!(piped.field("db.operation.batch.size"), "3", "{piped:?}");
        assert!(!piped.fields.contains_key("error.type"), "{piped:?}");

        // A transaction of two entries.
        let mut t = pipe();
        t.atomic().invoke(Scripts::incr(KEY)).invoke(Scripts::incr_by(KEY, 2));
        let _: (i64, i64) = t.query(&mut con).expect("transaction");
        let txn = spans.one();
        assert_client(&txn, port);
        assert_eq!(txn.field("db.operation.name"), "MULTI", "{txn:?}");
        assert_eq!(txn.field("otel.name"), "MULTI", "{txn:?}");
        assert_eq!(txn.field("db.operation.batch.size"), "2", "{txn:?}");

        // A pipeline whose entry fails: the span says which error.
        let mut bad = pipe();
        bad.invoke(Scripts::incr(KEY)).invoke(con.prepare("boom").expect("boom"));
        let _ = bad.query::<(i64, i64)>(&mut con).expect_err("an entry fails");
        let failed_batch = spans.one();
        assert_eq!(failed_batch.field("error.type"), "BOOM", "{failed_batch:?}");
        assert_eq!(failed_batch.field("otel.status_code"), "ERROR", "{failed_batch:?}");

        // SCRIPT FLUSH from another connection: one span for the call, with
        // the reload as its events.
        flush(server);
        let before: i64 = Scripts::read_counter(KEY).invoke(&mut con).expect("read after the flush");
        let _ = spans.take();
        assert_eq!(Scripts::incr_by(KEY, 5).invoke(&mut con).expect("after the flush"), before + 5);
        let recovery = spans.one();
        assert_call(&recovery, "EVALSHA", "incr_by", port);
        assert_eq!(recovery.events, ["script lost, reloading", "script loaded"], "{recovery:?}");

        assert_no_values(&[first, steady, read, failed, recovery, piped, txn, failed_batch], &[KEY]);
    }

    /// Async (multiplexed connection): the same spans; a connection not
    /// told its address has no `server.address`.
    async fn spans_async(server) {
        let (spans, _guard) = capture();
        let port = server.port();
        let client = server.client();
        let conn = client.get_multiplexed_async_connection().await.expect("connect");
        let mut con = ScriptCache::new(conn.clone()).with_server(client.get_connection_info().addr());

        assert_eq!(Scripts::incr_by(KEY, 5).invoke_async(&mut con).await.expect("first"), 5);
        let first = spans.one();
        assert_call(&first, "EVALSHA", "incr_by", port);
        // A fresh state's first call surveys the node's scripts, then loads.
        assert_eq!(first.events, ["scripts surveyed", "script loaded"], "{first:?}");

        con.register_script("boom", BOOM).expect("register");
        let err = con.run_script_async::<i64>("boom", &[KEY], &[] as &[&str]).await.expect_err("BOOM");
        assert_eq!(err.ran(), script_cache::Ran::Yes);
        let failed = spans.one();
        assert_eq!((failed.field("error.type"), failed.field("db.response.status_code")), ("BOOM", "BOOM"));
        assert_eq!(failed.field("otel.status_code"), "ERROR");

        flush(server);
        assert_eq!(Scripts::incr_by(KEY, 5).invoke_async(&mut con).await.expect("after the flush"), 10);
        let recovery = spans.one();
        assert_call(&recovery, "EVALSHA", "incr_by", port);
        assert_eq!(recovery.events, ["script lost, reloading", "script loaded"], "{recovery:?}");

        let mut t = pipe();
        t.atomic().invoke(Scripts::incr(KEY)).invoke(Scripts::incr_by(KEY, 2));
        let _: (i64, i64) = t.query_async(&mut con).await.expect("transaction");
        let txn = spans.one();
        assert_client(&txn, port);
        assert_eq!((txn.field("db.operation.name"), txn.field("db.operation.batch.size")), ("MULTI", "2"));

        // Without `with_server`: the rest of the attributes, no address.
        let mut anonymous = ScriptCache::with_state(conn, con.state().clone());
        assert_eq!(Scripts::incr_by(KEY, 1).invoke_async(&mut anonymous).await.expect("anonymous"), 14);
        let plain = spans.one();
        assert_eq!(plain.field("db.operation.name"), "EVALSHA");
        assert_eq!(plain.field("db.namespace"), "0");
        assert!(!plain.fields.contains_key("server.address"), "{plain:?}");
        assert!(!plain.fields.contains_key("server.port"), "{plain:?}");

        assert_no_values(&[first, failed, recovery, txn, plain], &[KEY]);
    }

    /// The OpenTelemetry SDK: spans through tracing-opentelemetry and the
    /// metrics, with in-memory exporters; then a search of all of it for a
    /// call's secret-looking key and argument.
    fn otel_export(server) {
        let (span_exporter, tracer_provider, metric_exporter, meter_provider) = otel();
        let tracer = tracer_provider.tracer("otel-test");
        let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let _guard = tracing::subscriber::set_default(subscriber);
        let port = server.port();
        let client = server.client();
        let state = ScriptState::new();
        assert!(state.enable_metrics(&opentelemetry::metrics::MeterProvider::meter(&meter_provider, "otel-test")));
        let mut con = ScriptCache::with_state(server.connection(), state.clone())
            .with_server(client.get_connection_info().addr());

        // The secret-looking call: a key and an argument that must not be exported.
        con.register_script("secret_len", "return #ARGV[1] + #KEYS[1]").expect("register");
        let len: i64 = con.run_script("secret_len", &[SECRET_KEY], &[SECRET_ARG]).expect("secret call");
        assert_eq!(len, (SECRET_KEY.len() + SECRET_ARG.len()) as i64);
        con.register_script("boom", BOOM).expect("register");
        let _ = con.run_script::<i64>("boom", &[SECRET_KEY], &[SECRET_ARG]).expect_err("BOOM");
        flush(server);
        let _: i64 = con.run_script("secret_len", &[SECRET_KEY], &[SECRET_ARG]).expect("after the flush");
        let mut p = pipe();
        p.invoke(con.prepare("secret_len").expect("prepare").key(SECRET_KEY).arg(SECRET_ARG))
            .invoke(Scripts::incr_by(SECRET_KEY, 3));
        let _: (i64, i64) = p.query(&mut con).expect("pipeline");

        tracer_provider.force_flush().expect("flush spans");
        meter_provider.force_flush().expect("flush metrics");
        let exported = span_exporter.get_finished_spans().expect("spans");
        let names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["EVALSHA secret_len", "EVALSHA boom", "EVALSHA secret_len", "PIPELINE"], "{exported:#?}");
        for span in &exported {
            assert_eq!(span.span_kind, SpanKind::Client, "{span:#?}");
            assert_eq!(attr(span, "db.system.name"), "redis");
            assert_eq!(attr(span, "server.address"), "127.0.0.1");
            assert_eq!(attr(span, "server.port"), port.to_string());
            assert_eq!(attr(span, "db.namespace"), "0");
        }
        assert_eq!(attr(&exported[0], "db.stored_procedure.name"), "secret_len");
        assert_eq!(attr(&exported[0], "db.operation.name"), "EVALSHA");
        assert_eq!(exported[0].status, Status::Unset);
        assert_eq!(exported[1].status, Status::error("BOOM"), "{:#?}", exported[1]);
        assert_eq!(exported[3].attributes.iter().filter(|kv| kv.key.as_str() == "db.operation.name").count(), 1);
        assert_eq!(attr(&exported[1], "error.type"), "BOOM");
        assert_eq!(attr(&exported[1], "db.response.status_code"), "BOOM");
        // The reload after the flush: events of the call's span.
        let events: Vec<&str> = exported[2].events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(events, ["script lost, reloading", "script loaded"], "{:#?}", exported[2]);
        assert_eq!(attr(&exported[3], "db.operation.batch.size"), "2");

        let metrics = metric_exporter.get_finished_metrics().expect("metrics");
        let last = metrics.last().expect("one export");
        let points = durations(last);
        let by_op: Vec<(String, String, u64)> = points
            .iter()
            .map(|(attrs, count)| {
                let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
                (get("db.operation.name"), get("db.stored_procedure.name"), *count)
            })
            .collect();
        // Two successful secret_len calls, one failed boom, one pipeline.
        assert!(by_op.contains(&("EVALSHA".into(), "secret_len".into(), 2)), "{points:?}");
        assert!(by_op.contains(&("EVALSHA".into(), "boom".into(), 1)), "{points:?}");
        assert!(by_op.contains(&("PIPELINE".into(), String::new(), 1)), "{points:?}");
        let boom = points.iter().find(|(a, _)| a.get("db.stored_procedure.name").map(String::as_str) == Some("boom")).unwrap();
        assert_eq!(boom.0.get("error.type").map(String::as_str), Some("BOOM"));
        assert_eq!(boom.0.get("server.port"), Some(&port.to_string()));
        let counters = sums(last);
        let stats = state.stats();
        assert_eq!(counters.get("script_cache.loads"), Some(&stats.loads), "{counters:?}");
        assert_eq!(counters.get("script_cache.reloads"), Some(&1), "{counters:?}");
        assert_eq!(counters.get("script_cache.surveys"), Some(&stats.surveys), "{counters:?}");
        assert_eq!(counters.get("script_cache.replica_fallbacks"), Some(&0), "{counters:?}");
        assert_eq!(counters.get("script_cache.calls"), Some(&stats.calls), "{counters:?}");
        assert_eq!(counters.get("script_cache.failed_calls{yes}"), Some(&1), "{counters:?}");
        assert_eq!(counters.get("script_cache.failed_calls{no}"), Some(&0), "{counters:?}");

        // Nothing exported holds the key or the argument.
        let all = format!("{exported:?}\n{metrics:?}");
        for secret in [SECRET_KEY, SECRET_ARG, "token-Zq93xKf0", "hunter2"] {
            assert!(!all.contains(secret), "{secret} was exported");
        }
        // Nor a script's source.
        assert!(!all.contains("#ARGV[1]") && !all.contains("error_reply"), "a source was exported");
        let _ = tracer_provider.shutdown();
        let _ = meter_provider.shutdown();
    }
}

/// The SDK's in-memory exporters and their providers.
fn otel() -> (
    InMemorySpanExporter,
    SdkTracerProvider,
    InMemoryMetricExporter,
    SdkMeterProvider,
) {
    let span_exporter = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(span_exporter.clone())
        .build();
    let metric_exporter = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metric_exporter.clone()).build())
        .build();
    (
        span_exporter,
        tracer_provider,
        metric_exporter,
        meter_provider,
    )
}

/// A span attribute, as text ("<missing>" if absent).
fn attr(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map_or_else(|| "<missing>".to_owned(), |kv| kv.value.to_string())
}

/// The data points of `db.client.operation.duration`: attributes and count.
fn durations(rm: &ResourceMetrics) -> Vec<(BTreeMap<String, String>, u64)> {
    let mut out = Vec::new();
    for sm in rm.scope_metrics() {
        for m in sm.metrics() {
            if m.name() != "db.client.operation.duration" {
                continue;
            }
            assert_eq!(m.unit(), "s");
            let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() else {
                panic!("not a histogram: {m:?}");
            };
            for dp in h.data_points() {
                let bounds: Vec<f64> = dp.bounds().collect();
                assert_eq!(bounds, [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]);
                let attrs = dp
                    .attributes()
                    .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect();
                out.push((attrs, dp.count()));
            }
        }
    }
    out
}

/// The `script_cache.*` counters: name (with `{ran}` for the failed
/// calls) and value.
fn sums(rm: &ResourceMetrics) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for sm in rm.scope_metrics() {
        for m in sm.metrics() {
            if let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() {
                assert!(sum.is_monotonic(), "{m:?}");
                for dp in sum.data_points() {
                    let ran = dp
                        .attributes()
                        .find(|kv| kv.key.as_str() == "script_cache.ran");
                    let name = match ran {
                        Some(kv) => format!("{}{{{}}}", m.name(), kv.value),
                        None => m.name().to_owned(),
                    };
                    out.insert(name, dp.value());
                }
            }
        }
    }
    out
}

/// A cluster: the span of a call names the node that owns the key's slot
/// (address and port), database 0; after `SCRIPT FLUSH` on that node the
/// recovery (reload, `EVAL` retry, slot-map refresh) is events of the one
/// span, whose operation is the `EVAL` that ran it.
fn cluster_scenario(flavor: Flavor) {
    match flavor.binary() {
        Ok(_) => {}
        Err(missing) if script_cache_tests::in_ci() => panic!("{missing}"),
        Err(missing) => {
            eprintln!("SKIPPED on {flavor}: {missing}");
            return;
        }
    }
    let cluster = TestCluster::start(flavor, 0);
    let key = format!("{{{KEY}}}");
    let owner = cluster.key_owner(&key);
    let port = cluster.nodes()[owner].port();
    let (spans, _guard) = capture();
    runtime().block_on(async {
        let conn = cluster
            .client()
            .get_async_connection()
            .await
            .expect("async cluster");
        let mut con = ScriptCache::new(conn);
        assert_eq!(
            Scripts::incr_by(&key, 2)
                .invoke_async(&mut con)
                .await
                .expect("first"),
            2
        );
        let first = spans.one();
        assert_call(&first, "EVALSHA", "incr_by", port);
        assert_eq!(
            first.events,
            ["slot map refreshed", "scripts surveyed", "script loaded"],
            "{first:?}"
        );

        assert_eq!(
            Scripts::incr_by(&key, 2)
                .invoke_async(&mut con)
                .await
                .expect("steady"),
            4
        );
        let steady = spans.one();
        assert_call(&steady, "EVALSHA", "incr_by", port);
        assert!(steady.events.is_empty(), "{steady:?}");

        cluster.flush_scripts_on(owner);
        assert_eq!(
            Scripts::incr_by(&key, 2)
                .invoke_async(&mut con)
                .await
                .expect("after the flush"),
            6
        );
        let recovery = spans.one();
        assert_call(&recovery, "EVAL", "incr_by", port);
        assert_eq!(
            recovery.events,
            [
                "script lost, reloading",
                "script retried with EVAL",
                "slot map refreshed"
            ],
            "{recovery:?}"
        );

        let mut p = pipe();
        p.invoke(Scripts::incr(&key))
            .invoke(Scripts::incr_by(&key, 2));
        let _: (i64, i64) = p.query_async(&mut con).await.expect("pipeline");
        let piped = spans.one();
        assert_client(&piped, port);
        assert_eq!(piped.field("db.operation.name"), "PIPELINE");
        assert_no_values(&[first, steady, recovery, piped], &[KEY]);
    });
    // The sync cluster connection: the same node.
    let mut con = ScriptCache::new(cluster.client().get_connection().expect("sync cluster"));
    let n: i64 = Scripts::incr_by(&key, 1).invoke(&mut con).expect("sync");
    assert!(n > 6);
    let sync = spans.one();
    assert_call(&sync, "EVALSHA", "incr_by", port);
}

script_cache_tests::per_flavor!(spans_of_a_cluster, cluster_scenario);

functions_matrix! {
    /// A function's call is a span like a script's: `FCALL` (`FCALL_RO`
    /// for a `no-writes` function) and the function's name, the first
    /// call (its library loaded in the same request) and the steady ones.
    fn function_spans(server) {
        use script_cache::EmbeddedFunction as _;
        let (spans, _guard) = capture();
        let port = server.port();
        let client = server.client();
        let mut con = ScriptCache::new(server.connection()).with_server(client.get_connection_info().addr());
        let key = "otel:fn-counter";
        let n: i64 = library::Functions::bump(key, 2).invoke(&mut con).expect("first");
        assert_eq!(n, 2);
        assert_call(&spans.one(), "FCALL", "bump", port);
        let n: i64 = library::Functions::bump(key, 3).invoke(&mut con).expect("steady");
        assert_eq!(n, 5);
        let steady = spans.one();
        assert_call(&steady, "FCALL", "bump", port);
        assert!(steady.events.is_empty(), "{steady:?}");
        assert!(library::Functions::Peek.read_only());
        let _ = library::Functions::peek(key).invoke(&mut con).expect("read");
        assert_call(&spans.one(), "FCALL_RO", "peek", port);
    }
}
