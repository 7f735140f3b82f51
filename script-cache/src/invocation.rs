//! A script with its keys and arguments, ready to run.

use std::fmt;
use std::marker::PhantomData;

use redis::{FromRedisValue, ToRedisArgs};

use crate::args::{CallArgs, Slot};
use crate::error::{Error, Result};
use crate::function::FunctionMeta;
use crate::handle::ScriptHandle;
use crate::script::{EmbeddedScript, ScriptMeta};

/// A type a script's reply converts to: every [`redis::FromRedisValue`]
/// type (`i64`, `String`, `Option<String>`, `Vec<T>`, `redis::Value`,
/// ...), with nothing to implement. It is the bound of
/// [`Invocation::invoke`] and friends so that a call that names no reply
/// type (`.invoke(&mut con)?;`, where Rust infers `!`) gets a compile error
/// that says how to name one, instead of only "`!: FromRedisValue` is not
/// satisfied".
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reply type: a script's reply converts to a type that implements `redis::FromRedisValue`",
    label = "the reply type of this call",
    note = "`!` means the call names no reply type: add one with `::<T>`, e.g. `.invoke::<i64>(&mut con)?`, or bind the result, `let n: i64 = ...invoke(&mut con)?;` (`()` or `redis::Value` to ignore it)",
    note = "or declare the reply in the script, `-- @return int`, and call its typed function (`Scripts::rate_limit(..).invoke(&mut con)?`), which knows its type"
)]
pub trait ReplyType: FromRedisValue {}

impl<T: FromRedisValue> ReplyType for T {}

/// A script call being built: the script plus its `KEYS` and `ARGV`.
///
/// Made by [`EmbeddedScript::key`](crate::EmbeddedScript::key) /
/// [`arg`](crate::EmbeddedScript::arg) on a generated enum, or by
/// [`ScriptCache::prepare`](crate::ScriptCache::prepare) for scripts registered at run time. Run it with
/// [`invoke`](Invocation::invoke) (or `invoke_async` with the `tokio-comp`
/// feature), or add it to a [`Pipeline`](crate::Pipeline).
///
/// `Debug` shows the script and how many keys and arguments it has, never
/// their values (they may be secrets).
#[derive(Clone)]
pub struct Invocation {
    pub(crate) handle: ScriptHandle,
    pub(crate) args: CallArgs,
    /// The cluster slot the caller routed the call to, if any
    /// (`route_key`, with the `cluster` feature).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) route: Option<u16>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("script", &self.handle.name())
            .field("sha1", &self.handle.sha1())
            .field("keys", &self.args.key_count())
            .field("args", &self.args.arg_count())
            .finish()
    }
}

impl Invocation {
    pub(crate) fn new(handle: ScriptHandle) -> Self {
        Invocation {
            handle,
            args: CallArgs::default(),
            route: None,
        }
    }

    /// An invocation of an embedded script with no keys or arguments yet.
    pub fn of(meta: &'static ScriptMeta) -> Self {
        Self::new(ScriptHandle::Static(meta, None))
    }

    /// An invocation of `script`, which knows the other scripts of its
    /// enum (a state's first contact with a node asks about all of them
    /// at once): what [`EmbeddedScript::invocation`] and the typed calls
    /// build.
    pub(crate) fn embedded<S: EmbeddedScript>(script: S) -> Self {
        Self::new(ScriptHandle::Static(
            script.meta(),
            Some(crate::handle::Family::of::<S>()),
        ))
    }

    /// An invocation of a function of an embedded library (`FCALL`, or
    /// `FCALL_RO` for a `no-writes` function) with no keys or arguments
    /// yet.
    pub fn of_function(meta: &'static FunctionMeta) -> Self {
        Self::new(ScriptHandle::Function(meta))
    }

    /// Appends to `KEYS` (a value that expands to several, like a slice,
    /// appends them all).
    pub fn key<K: ToRedisArgs>(mut self, key: K) -> Self {
        self.args.push(&key, Slot::Key);
        self
    }

    /// Appends to `ARGV` (a value that expands to several appends them all).
    pub fn arg<A: ToRedisArgs>(mut self, arg: A) -> Self {
        self.args.push(&arg, Slot::Arg);
        self
    }

    /// The script's name.
    pub fn script_name(&self) -> &str {
        self.handle.name()
    }

    /// How many keys were given.
    pub fn key_count(&self) -> usize {
        self.args.key_count()
    }

    /// How many arguments were given.
    pub fn arg_count(&self) -> usize {
        self.args.arg_count()
    }

    /// Refuses a call of an embedded script whose key or argument count
    /// its build-time metadata says is wrong ([`ScriptMeta::keys`],
    /// [`ScriptMeta::args`]; a variadic script takes any count from its
    /// minimum up), before anything is sent: [`Error::WrongArity`], which
    /// did not run. Scripts registered at run time have no such metadata
    /// and are not checked.
    /// [`invoke`](Invocation::invoke) and `invoke_async` call it; a
    /// pipeline would call it on each script entry before planning.
    pub(crate) fn check_arity(&self) -> Result<()> {
        let (expected_keys, expected_args) = match &self.handle {
            ScriptHandle::Static(meta, _) => (meta.keys(), meta.args()),
            ScriptHandle::Function(meta) => (meta.keys(), meta.args()),
            ScriptHandle::Dynamic(_) => return Ok(()),
        };
        let (keys, args) = (self.args.key_count(), self.args.arg_count());
        if expected_keys.accepts(keys) && expected_args.accepts(args) {
            return Ok(());
        }
        Err(Error::WrongArity {
            script: self.handle.id(),
            expected_keys,
            keys,
            expected_args,
            args,
        })
    }

    pub(crate) fn convert<T: FromRedisValue>(&self, value: redis::Value) -> Result<T> {
        redis::from_redis_value(value).map_err(|e| Error::Reply {
            script: self.handle.id(),
            source: redis::RedisError::from(e),
        })
    }
}

/// A script call whose reply type `R` comes from the script's
/// `-- @return` header: what the typed call functions generated for each
/// script return (`Scripts::rate_limit(bucket, capacity, ..)`).
///
/// [`invoke`](TypedInvocation::invoke) returns `R`;
/// [`invoke_as`](TypedInvocation::invoke_as) converts to any other type when
/// the header's type is not what you want. It goes into a
/// [`Pipeline`](crate::Pipeline) like an [`Invocation`].
pub struct TypedInvocation<R> {
    inner: Invocation,
    reply: PhantomData<fn() -> R>,
}

impl<R> TypedInvocation<R> {
    /// Used by generated code; not part of the public API.
    #[doc(hidden)]
    pub fn __new(inner: Invocation) -> Self {
        TypedInvocation {
            inner,
            reply: PhantomData,
        }
    }

    /// The untyped invocation.
    pub fn invocation(&self) -> &Invocation {
        &self.inner
    }

    /// Turns it into the untyped invocation.
    pub fn into_invocation(self) -> Invocation {
        self.inner
    }
}

impl<R> Clone for TypedInvocation<R> {
    fn clone(&self) -> Self {
        TypedInvocation {
            inner: self.inner.clone(),
            reply: PhantomData,
        }
    }
}

impl<R> fmt::Debug for TypedInvocation<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedInvocation")
            .field(&self.inner)
            .field(&std::any::type_name::<R>())
            .finish()
    }
}

impl<R> From<TypedInvocation<R>> for Invocation {
    fn from(typed: TypedInvocation<R>) -> Self {
        typed.inner
    }
}
