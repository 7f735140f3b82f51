//! OpenTelemetry: the spans of script calls (the `tracing` feature, exported
//! through `tracing-opentelemetry`) and the metrics (the `opentelemetry`
//! feature), collected by the OpenTelemetry SDK's in-memory exporters and
//! printed. An application puts its own exporter (OTLP, stdout, ...) where
//! the in-memory ones are; script-cache chooses none.
//!
//! Run it with `cargo run -p script-cache-tests --example otel`. It talks to
//! `REDIS_URL`, or starts a throwaway `redis-server`/`valkey-server` as the
//! quickstart does (`script_cache_quickstart::server`).

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use script_cache::prelude::*;
use script_cache::{ScriptState, pipe};
use tracing_subscriber::layer::SubscriberExt;

include_scripts!("../lua");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Spans: tracing -> tracing-opentelemetry -> the SDK's tracer.
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("example"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;

    // Metrics: the SDK's meter provider, handed to the state.
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let state = ScriptState::new();
    state.enable_metrics(&meter_provider.meter("example"));

    let server = script_cache_quickstart::server()?;
    let client = redis::Client::open(server.url())?;
    let mut con = ScriptCache::with_state(client.get_connection()?, state.clone())
        .with_server(client.get_connection_info().addr());

    // A call (loads the script), a steady call, a recovery after a flush,
    // a failed call and a pipeline.
    let _: i64 = Scripts::LockAcquire
        .key("otel:lock")
        .arg("me")
        .arg(1000)
        .invoke(&mut con)?;
    let _: i64 = Scripts::LockAcquire
        .key("otel:lock")
        .arg("me")
        .arg(1000)
        .invoke(&mut con)?;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(con.get_mut())?;
    let _: i64 = Scripts::LockAcquire
        .key("otel:lock")
        .arg("me")
        .arg(1000)
        .invoke(&mut con)?;
    // The rate limiter refuses a capacity of 0 with its own error.
    let refused = Scripts::RateLimit
        .key("otel:bucket")
        .arg(0)
        .arg(1)
        .arg(0)
        .arg(1)
        .invoke::<i64>(&mut con);
    println!(
        "a refused call: {}",
        refused.expect_err("capacity 0 is refused")
    );
    let mut p = pipe();
    p.invoke(Scripts::SumCounters.key("otel:a"))
        .invoke(Scripts::LockRelease.key("otel:lock").arg("me"));
    let _: (i64, i64) = p.query(&mut con)?;

    tracer_provider.force_flush()?;
    meter_provider.force_flush()?;

    println!("\nspans:");
    for span in spans.get_finished_spans()? {
        let attributes: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        let events: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
        println!(
            "  {:<24} {:?} {:?} [{}] events {:?}",
            span.name,
            span.span_kind,
            span.status,
            attributes.join(", "),
            events
        );
    }

    println!("\nmetrics:");
    let exported = metrics.get_finished_metrics()?;
    let last = exported.last().ok_or("no metrics exported")?;
    for metric in last.scope_metrics().flat_map(|s| s.metrics()) {
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                for dp in h.data_points() {
                    let op: Vec<String> = dp
                        .attributes()
                        .filter(|kv| kv.key.as_str().starts_with("db."))
                        .map(|kv| format!("{}={}", kv.key, kv.value))
                        .collect();
                    println!(
                        "  {} ({}): {} measurement(s), sum {:.6} s [{}]",
                        metric.name(),
                        metric.unit(),
                        dp.count(),
                        dp.sum(),
                        op.join(", ")
                    );
                }
            }
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                for dp in sum.data_points() {
                    let attributes: Vec<String> = dp
                        .attributes()
                        .map(|kv| format!("{}={}", kv.key, kv.value))
                        .collect();
                    println!("  {} {:?} = {}", metric.name(), attributes, dp.value());
                }
            }
            _ => {}
        }
    }
    tracer_provider.shutdown()?;
    meter_provider.shutdown()?;
    Ok(())
}
