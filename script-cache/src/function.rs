//! Static description of the function libraries embedded at build time
//! (`#!lua name=<library>` files of the script folder) and of the
//! functions they register, and the trait the generated `Functions` enum
//! implements.

use core::fmt;

use crate::script::Arity;

/// Everything known at build time about one function library.
///
/// `'static` data produced by the macros; read it through
/// [`FunctionMeta::library`] or [`EmbeddedFunction::library`].
#[derive(Debug)]
pub struct LibraryMeta {
    name: &'static str,
    server_name: &'static str,
    file: &'static str,
    code: &'static str,
    sha1: &'static str,
}

impl LibraryMeta {
    /// Used by generated code; not part of the public API.
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        server_name: &'static str,
        file: &'static str,
        code: &'static str,
        sha1: &'static str,
    ) -> Self {
        LibraryMeta {
            name,
            server_name,
            file,
            code,
            sha1,
        }
    }

    /// The library's name, from its `#!lua name=<library>` line.
    pub const fn name(&self) -> &'static str {
        self.name
    }
    /// The library's name on the server: [`name`](LibraryMeta::name), or
    /// in a folder with `functions = "versioned"` `<name>_v<version>`
    /// (the first 12 hex digits of the SHA-1 of the library as written,
    /// includes expanded; docs/functions.md).
    pub const fn server_name(&self) -> &'static str {
        self.server_name
    }
    /// The file, relative to the script folder.
    pub const fn file(&self) -> &'static str {
        self.file
    }
    /// The exact code sent with `FUNCTION LOAD` (includes expanded; in
    /// versioned mode with the names on the server written in).
    pub const fn code(&self) -> &'static str {
        self.code
    }
    /// SHA-1 of [`code`](LibraryMeta::code), 40 lowercase hex digits: what
    /// tells this build's library from another copy of the same name.
    pub const fn sha1(&self) -> &'static str {
        self.sha1
    }
}

/// Everything known at build time about one function a library registers.
#[derive(Debug)]
pub struct FunctionMeta {
    name: &'static str,
    server_name: &'static str,
    library: &'static LibraryMeta,
    flags: &'static [&'static str],
    keys: Arity,
    args: Arity,
    doc: &'static str,
}

impl FunctionMeta {
    /// Used by generated code; not part of the public API.
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        server_name: &'static str,
        library: &'static LibraryMeta,
        flags: &'static [&'static str],
        keys: Arity,
        args: Arity,
        doc: &'static str,
    ) -> Self {
        FunctionMeta {
            name,
            server_name,
            library,
            flags,
            keys,
            args,
            doc,
        }
    }

    /// The function's name, as the library registers it in the file (and
    /// as the typed call is named).
    pub const fn name(&self) -> &'static str {
        self.name
    }
    /// The function's name on the server, as `FCALL` takes it:
    /// [`name`](FunctionMeta::name), or in a folder with `functions =
    /// "versioned"` `<name>_v<version>` (the version of its library's
    /// [`server_name`](LibraryMeta::server_name)).
    pub const fn server_name(&self) -> &'static str {
        self.server_name
    }
    /// The library that registers it.
    pub const fn library(&self) -> &'static LibraryMeta {
        self.library
    }
    /// Its flags (`no-writes`, `allow-oom`, ...), in the order written.
    pub const fn flags(&self) -> &'static [&'static str] {
        self.flags
    }
    /// Whether it is registered with the `no-writes` flag: it is then
    /// called with `FCALL_RO`.
    pub fn read_only(&self) -> bool {
        self.flags.contains(&"no-writes")
    }
    /// How many keys a call passes (its typed call's keys).
    pub const fn keys(&self) -> Arity {
        self.keys
    }
    /// How many arguments a call passes.
    pub const fn args(&self) -> Arity {
        self.args
    }
    /// The documentation of the comment block above its registration.
    pub const fn doc(&self) -> &'static str {
        self.doc
    }
}

/// Implemented by the `Functions` enum that `include_scripts!` and
/// `#[scripts]` generate when the folder holds function libraries: one
/// variant per registered function.
pub trait EmbeddedFunction: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every function, by library (in file-name order), then in
    /// registration order.
    const ALL: &'static [Self];

    /// The build-time description of this function.
    fn meta(self) -> &'static FunctionMeta;

    /// Finds a function by its name as written in the file.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.meta().name() == name)
    }
    /// The function's name as written in the file (see
    /// [`FunctionMeta::server_name`] for the name `FCALL` takes).
    fn name(self) -> &'static str {
        self.meta().name()
    }
    /// The library that registers it.
    fn library(self) -> &'static LibraryMeta {
        self.meta().library()
    }
    /// Whether it is called with `FCALL_RO` (`no-writes`).
    fn read_only(self) -> bool {
        self.meta().read_only()
    }
    /// How many keys a call passes.
    fn keys(self) -> Arity {
        self.meta().keys()
    }
    /// How many arguments a call passes.
    fn args(self) -> Arity {
        self.meta().args()
    }
    /// An invocation of this function with no keys or arguments yet.
    fn invocation(self) -> crate::Invocation {
        crate::Invocation::of_function(self.meta())
    }
    /// Starts an invocation with its first key.
    fn key<K: redis::ToRedisArgs>(self, key: K) -> crate::Invocation {
        self.invocation().key(key)
    }
    /// Starts an invocation with its first argument.
    fn arg<A: redis::ToRedisArgs>(self, arg: A) -> crate::Invocation {
        self.invocation().arg(arg)
    }
}
