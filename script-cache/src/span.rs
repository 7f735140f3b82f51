//! Client operations: one span per script call, pipeline and transaction
//! (the `tracing` feature) in OpenTelemetry's database client
//! conventions, and its `db.client.operation.duration` measurement (the
//! `opentelemetry` feature, `metrics.rs`). The events of `trace.rs` are
//! emitted inside the span of the operation that caused them.

use std::sync::Arc;

use crate::handle::ScriptHandle as Handle;
#[cfg(any(feature = "tracing", feature = "cluster"))]
use crate::node::NodeKey;

/// Where a connection to one server sends its commands, as its user said
/// ([`ScriptCache::with_server`](crate::ScriptCache::with_server)):
/// `server.address` and `server.port` of the spans and metrics.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    #[cfg_attr(
        not(any(feature = "tracing", feature = "opentelemetry")),
        allow(dead_code)
    )]
    address: Arc<str>,
    #[cfg_attr(
        not(any(feature = "tracing", feature = "opentelemetry")),
        allow(dead_code)
    )]
    port: Option<u16>,
}

impl Server {
    /// A TCP address (host and port) or a Unix socket's path (no port).
    pub(crate) fn from_addr(addr: &redis::ConnectionAddr) -> Server {
        let (address, port): (Arc<str>, _) = match addr {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => {
                (host.as_str().into(), Some(*port))
            }
            redis::ConnectionAddr::Unix(path) => (path.to_string_lossy().into(), None),
            // A kind redis-rs may add: its own text, no port.
            other => (other.to_string().into(), None),
        };
        Server { address, port }
    }
}

/// What an operation's span and duration say beside the span's own
/// fields: filled in as the operation goes, read once at its end.
#[cfg(any(feature = "tracing", feature = "opentelemetry"))]
struct Record<'a> {
    /// The script's name (`db.stored_procedure.name`); none for a batch.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    procedure: Option<&'a str>,
    /// The command last sent (`db.operation.name`): `EVALSHA`, `EVAL`,
    /// `EVALSHA_RO`, ..., or `PIPELINE` / `MULTI` for a batch.
    command: &'static str,
    /// `db.operation.batch.size` (0: not a batch).
    batch: usize,
    /// The node that answered last.
    server: Option<(Arc<str>, Option<u16>)>,
    /// The database index (`db.namespace`), where known.
    db: Option<i64>,
}

/// One client operation (a script call, a pipeline, a transaction): its
/// span (the `tracing` feature) and its duration (the `opentelemetry`
/// feature, once metrics are enabled on the state). Created where the
/// operation starts, ended once with its outcome ([`Op::end`]).
///
/// Without a subscriber that wants the span and without metrics it holds
/// nothing (`None`): creating it is a check of the maximum level and of
/// the state's metrics, and every record is a check of that `None`; no
/// span is built, no clock read, nothing formatted. Otherwise what it
/// records lives in one allocation.
pub(crate) struct Op<'a> {
    #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
    on: Option<Box<On<'a>>>,
    _life: std::marker::PhantomData<&'a ()>,
}

/// A recorded operation: its span, its start and what it did.
#[cfg(any(feature = "tracing", feature = "opentelemetry"))]
struct On<'a> {
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
    #[cfg(feature = "opentelemetry")]
    timer: Option<(std::time::Instant, &'a crate::metrics::Metrics)>,
    rec: Record<'a>,
}

/// The span an async operation's future is instrumented with, if any.
#[cfg(all(feature = "tokio-comp", feature = "tracing"))]
pub(crate) type SpanHandle = Option<tracing::Span>;
/// The span an async operation's future is instrumented with (none
/// without the `tracing` feature).
#[cfg(all(feature = "tokio-comp", not(feature = "tracing")))]
pub(crate) struct SpanHandle;

/// Runs `fut` inside `span`, if there is one: the events of what it does
/// (loads, reloads, `EVAL` retries, slot-map refreshes) are the span's.
/// (Without a span the future is wrapped all the same, with a disabled
/// span: one type, no second copy of the future.)
#[cfg(feature = "tokio-comp")]
#[inline(always)]
pub(crate) fn instrument<F: Future>(span: SpanHandle, fut: F) -> impl Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    {
        tracing::Instrument::instrument(fut, span.unwrap_or_else(tracing::Span::none))
    }
    #[cfg(not(feature = "tracing"))]
    {
        let SpanHandle = span;
        fut
    }
}

/// The `db.client.operation.duration` recorder of `state`, if metrics are
/// enabled on it.
#[cfg(feature = "opentelemetry")]
#[inline(always)]
fn timer(
    state: &crate::state::StateInner,
) -> Option<(std::time::Instant, &crate::metrics::Metrics)> {
    state
        .metrics
        .get()
        .map(|metrics| (std::time::Instant::now(), metrics))
}

/// Whether a subscriber may want a span at INFO (the cheap check before
/// building one: the maximum level every subscriber set).
#[cfg(feature = "tracing")]
#[inline(always)]
fn info_enabled() -> bool {
    tracing::level_enabled!(tracing::Level::INFO)
}

/// The name of a script call's span, `{db.operation.name} {target}`: the
/// command the call is planned with when it starts (`EVALSHA`, or
/// `EVALSHA_RO` for a read-only script on a server known to have it) and
/// the script's name. Formatted only for a span a subscriber wants.
#[cfg(feature = "tracing")]
struct CallName<'a> {
    handle: &'a Handle,
    state: &'a crate::state::StateInner,
}

#[cfg(feature = "tracing")]
impl std::fmt::Display for CallName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[allow(unused_mut)]
        let mut caps = self.state.loaded.caps(&NodeKey::SINGLE);
        #[cfg(feature = "cluster")]
        if caps == crate::node::Caps::Unknown {
            caps = self.state.cluster.caps();
        }
        let command = crate::policy::command_for(self.handle, caps);
        write!(f, "{command} {}", self.handle.name())
    }
}

impl<'a> Op<'a> {
    /// A script call of `handle` on a connection sharing `state`.
    #[inline(always)]
    pub(crate) fn call(handle: &'a Handle, state: &'a crate::state::StateInner) -> Op<'a> {
        let _ = (handle, state);
        #[cfg(feature = "tracing")]
        let span = if info_enabled() {
            Self::wanted(tracing::info_span!(
                target: "script_cache",
                "script call",
                otel.name = %CallName { handle, state },
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                otel.status_description = tracing::field::Empty,
                db.system.name = "redis",
                db.operation.name = tracing::field::Empty,
                db.stored_procedure.name = handle.name(),
                db.namespace = tracing::field::Empty,
                server.address = tracing::field::Empty,
                server.port = tracing::field::Empty,
                error.type = tracing::field::Empty,
                db.response.status_code = tracing::field::Empty,
            ))
        } else {
            None
        };
        Op {
            #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
            on: Self::on(
                #[cfg(feature = "tracing")]
                span,
                #[cfg(feature = "opentelemetry")]
                timer(state),
                Some(handle.name()),
                "EVALSHA",
                0,
            ),
            _life: std::marker::PhantomData,
        }
    }

    /// A pipeline (`MULTI` for a transaction) of `size` entries.
    #[inline(always)]
    pub(crate) fn batch(state: &'a crate::state::StateInner, atomic: bool, size: usize) -> Op<'a> {
        let _ = (state, atomic, size);
        #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
        let command = if atomic { "MULTI" } else { "PIPELINE" };
        #[cfg(feature = "tracing")]
        let span = if info_enabled() {
            Self::wanted(tracing::info_span!(
                target: "script_cache",
                "script batch",
                otel.name = command,
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                otel.status_description = tracing::field::Empty,
                db.system.name = "redis",
                db.operation.name = tracing::field::Empty,
                db.operation.batch.size = tracing::field::Empty,
                db.namespace = tracing::field::Empty,
                server.address = tracing::field::Empty,
                server.port = tracing::field::Empty,
                error.type = tracing::field::Empty,
                db.response.status_code = tracing::field::Empty,
            ))
        } else {
            None
        };
        Op {
            #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
            on: Self::on(
                #[cfg(feature = "tracing")]
                span,
                #[cfg(feature = "opentelemetry")]
                timer(state),
                None,
                command,
                size,
            ),
            _life: std::marker::PhantomData,
        }
    }

    /// The span, if a subscriber wants it.
    #[cfg(feature = "tracing")]
    #[inline(always)]
    fn wanted(span: tracing::Span) -> Option<tracing::Span> {
        (!span.is_disabled()).then_some(span)
    }

    /// What is recorded, when anything reads it (a span or metrics).
    #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
    #[inline(always)]
    fn on(
        #[cfg(feature = "tracing")] span: Option<tracing::Span>,
        #[cfg(feature = "opentelemetry")] timer: Option<(
            std::time::Instant,
            &'a crate::metrics::Metrics,
        )>,
        procedure: Option<&'a str>,
        command: &'static str,
        batch: usize,
    ) -> Option<Box<On<'a>>> {
        #[allow(unused_mut)]
        let mut on = false;
        #[cfg(feature = "tracing")]
        {
            on |= span.is_some();
        }
        #[cfg(feature = "opentelemetry")]
        {
            on |= timer.is_some();
        }
        if !on {
            return None;
        }
        Some(Box::new(On {
            #[cfg(feature = "tracing")]
            span,
            #[cfg(feature = "opentelemetry")]
            timer,
            rec: Record {
                procedure,
                command,
                batch,
                server: None,
                db: None,
            },
        }))
    }

    /// The script command just sent (`EVALSHA`, `EVAL`, ...); a batch
    /// keeps its own name.
    #[inline(always)]
    pub(crate) fn sent(&mut self, command: &'static str) {
        #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
        if let Some(on) = &mut self.on
            && on.rec.batch == 0
        {
            on.rec.command = command;
        }
        #[cfg(not(any(feature = "tracing", feature = "opentelemetry")))]
        let _ = command;
    }

    /// The connection to one server the operation went over: its address
    /// if the connection was told it, and its database index.
    #[inline(always)]
    pub(crate) fn single(&mut self, server: Option<&Server>, db: impl FnOnce() -> i64) {
        #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
        if let Some(on) = &mut self.on {
            on.rec.server = server.map(|s| (s.address.clone(), s.port));
            on.rec.db = Some(db());
        }
        #[cfg(not(any(feature = "tracing", feature = "opentelemetry")))]
        let _ = (server, db);
    }

    /// The cluster node the operation went to (the last one, after
    /// redirects and retries); a cluster has database 0 only.
    #[cfg(feature = "cluster")]
    #[inline(always)]
    pub(crate) fn node(&mut self, node: &NodeKey) {
        #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
        if let Some(on) = &mut self.on {
            on.rec.server = node.address().map(|addr| {
                // `host:port`, or `host:port/replicas` for reads on replicas.
                let addr = addr.split('/').next().unwrap_or(addr);
                match addr.rsplit_once(':') {
                    Some((host, port)) if port.parse::<u16>().is_ok() => {
                        (Arc::from(host), port.parse().ok())
                    }
                    _ => (Arc::from(addr), None),
                }
            });
            on.rec.db = Some(0);
        }
        #[cfg(not(any(feature = "tracing", feature = "opentelemetry")))]
        let _ = node;
    }

    /// The span, to instrument an async operation's future with.
    #[cfg(feature = "tokio-comp")]
    #[inline(always)]
    pub(crate) fn span(&self) -> SpanHandle {
        #[cfg(feature = "tracing")]
        {
            self.on.as_ref().and_then(|on| on.span.clone())
        }
        #[cfg(not(feature = "tracing"))]
        {
            SpanHandle
        }
    }

    /// Enters the span until the guard is dropped (a sync operation).
    #[inline(always)]
    pub(crate) fn entered(&self) -> impl Sized + use<> {
        #[cfg(feature = "tracing")]
        {
            self.on
                .as_ref()
                .and_then(|on| on.span.clone())
                .map(tracing::Span::entered)
        }
    }

    /// Ends the operation with its outcome: the span's closing attributes
    /// and the duration's measurement.
    #[inline(always)]
    pub(crate) fn end(self, error: Option<&crate::Error>) {
        #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
        if let Some(on) = self.on {
            on.finish(error);
        }
        #[cfg(not(any(feature = "tracing", feature = "opentelemetry")))]
        let _ = error;
    }
}

#[cfg(any(feature = "tracing", feature = "opentelemetry"))]
impl On<'_> {
    #[inline(never)]
    fn finish(&self, error: Option<&crate::Error>) {
        let rec = &self.rec;
        #[cfg(feature = "tracing")]
        if let Some(span) = &self.span {
            span.record("db.operation.name", rec.command);
            if rec.batch >= 2 {
                span.record("db.operation.batch.size", rec.batch as u64);
            }
            if let Some(db) = rec.db {
                span.record("db.namespace", tracing::field::display(db));
            }
            if let Some((address, port)) = &rec.server {
                span.record("server.address", &**address);
                if let Some(port) = port {
                    span.record("server.port", u64::from(*port));
                }
            }
            if let Some(e) = error {
                span.record("error.type", e.error_type());
                if let Some(code) = e.status_code() {
                    span.record("db.response.status_code", code);
                }
                span.record("otel.status_code", "ERROR");
                // The type, not the message: a script's message may quote
                // its arguments.
                span.record("otel.status_description", e.error_type());
            }
        }
        #[cfg(feature = "opentelemetry")]
        if let Some((start, metrics)) = self.timer {
            metrics.operation(
                start.elapsed(),
                rec.procedure,
                rec.command,
                rec.batch,
                &rec.server,
                rec.db,
                error,
            );
        }
    }
}
