//! Procedural macros of `script-cache`: embed a folder of Redis/Valkey Lua
//! scripts in a Rust enum at compile time. Use them through the
//! `script_cache` crate, which re-exports them (default `macros` feature).
//!
//! # The three forms
//!
//! ```ignore
//! // Whole folder: `pub enum Scripts`, one variant per top-level *.lua file.
//! script_cache::include_scripts!("lua/");
//!
//! // Whole folder into your own (empty) enum: name, visibility, docs and
//! // attributes are yours.
//! /// Our scripts.
//! #[script_cache::scripts(dir = "lua/")]
//! pub(crate) enum Lua {}
//!
//! // Your list of variants: each must have a file.
//! #[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
//! #[scripts(dir = "lua/")]
//! enum Locks {
//!     LockAcquire,                           // lua/lock_acquire.lua
//!     #[script(file = "lock_release.lua")]
//!     Release,
//! }
//! ```
//!
//! Each enum implements `script_cache::EmbeddedScript` (`ALL`, `name()`,
//! `file()`, `source()`, `sha1()`, `read_only()`, `keys()`, `args()`, ...),
//! `FromStr` (by name, error `UnknownScriptName`) and `Display` (the name),
//! and has one typed call function per script (see below).
//! The generated code names only `::script_cache::__private` and `::core`,
//! so the crate using it needs no `redis` dependency.
//!
//! # Rules
//!
//! * **Folder.** Relative to the manifest directory of the crate using the
//!   macro (`CARGO_MANIFEST_DIR`, the folder with its `Cargo.toml`); an
//!   absolute path is an error. The scripts are the top-level files ending
//!   in `.lua` (lower case), in sorted file-name order. Subfolders (they
//!   hold snippets for includes), dotfiles and other files are ignored. An
//!   empty or missing folder is an error.
//! * **Names.** `name()` is the file stem as written (`rate_limit`); the
//!   variant is its UpperCamelCase: split on `_` and `-`, upper-case the
//!   first letter of each part, keep the rest (`rate_limit.lua` and
//!   `rate-limit.lua` -> `RateLimit`). Stems use ASCII letters, digits, `_`
//!   and `-`; a stem starting with a digit, one that maps to a keyword
//!   (`self.lua` -> `Self`) or to nothing (`_.lua`), and two files mapping
//!   to one variant are errors.
//! * **Content.** UTF-8 without byte order mark, compiled by a vendored
//!   Lua 5.1.5, the interpreter Redis and Valkey embed (through the shared
//!   `script-cache-check` crate), so a script compiles exactly when every
//!   server flavor loads it (a bare CR ends a `--` comment, code after
//!   `return` and `break` outside a loop are refused; where the servers
//!   differ, the stricter wins). A syntax error is a compile error with
//!   `file:line:col` and Lua's message; a missing `end` points at the
//!   block's opener. The `KEYS`/`ARGV` analysis reads the tokens Lua reads
//!   (no recursion: no input crashes or hangs the build); a literal index
//!   above 256 is an error. Then the lint (`script_cache_check::lint`):
//!   what would fail when a line runs is a compile error (undefined or
//!   written globals, unknown commands, wrong literal arity, commands a
//!   targeted server lacks or refuses in scripts, writes in a `no-writes`
//!   script), and a key not passed in `KEYS` is a compiler warning (a use
//!   of a deprecated item whose note is the finding, as stable Rust has no
//!   warning API for proc macros). `source()` is the exact
//!   bytes of the file (with its includes expanded, see below) and `sha1()`
//!   their SHA-1, which is what `SCRIPT LOAD` answers.
//! * **Shebang.** A first line `#!lua` or `#!lua flags=a,b` declares Redis 7
//!   script flags (`no-writes`, `allow-oom`, `allow-stale`, `no-cluster`,
//!   `allow-cross-slot-keys`); anything else on that line is an error.
//!   `read_only()` is `flags=no-writes`. Such scripts also carry a legacy
//!   source (`#!` turned into `--!`) for servers before Redis 7.
//! * **Docs.** The leading comment block (after the shebang) becomes the
//!   variant's rustdoc: `---` lines as written, and `--[[ ... ]]` blocks as
//!   preformatted text and `ScriptMeta::doc()`. Other `--`
//!   comment lines (`-- @key`, `-- @arg`, ...) may sit among them.
//! * **Arity.** Literal `KEYS[n]` / `ARGV[n]` give `Arity::Exact(max n)`;
//!   any other use (`KEYS[i]`, `#KEYS`, `unpack(ARGV)`, passing the table)
//!   gives `Arity::Variadic { min: max n }`.
//! * **Errors.** Every problem is a compile error naming the file and the
//!   fix; all of them are reported in one pass, and the enum still gets the
//!   scripts that are fine, so one bad file does not break every use.
//!
//! # Typed calls
//!
//! Each script also gets an associated function on the enum, named by the
//! snake_case of the file stem (`rate-limit.lua` -> `Scripts::rate_limit`;
//! a keyword becomes a raw identifier, `loop.lua` -> `Scripts::r#loop`;
//! `self`, `super` and `crate` cannot and are errors; two files with one
//! function name are an error). Its parameters are the script's keys, then
//! its args, so a wrong number of arguments does not compile:
//!
//! ```lua
//! --- Take tokens from a bucket.
//! -- @key bucket      the bucket's hash
//! -- @arg capacity    tokens when full
//! -- @arg now_ms
//! -- @return integer  tokens left, or -1 when refused
//! ```
//!
//! ```ignore
//! let left: i64 = Scripts::rate_limit("bucket:42", 10, now_ms).invoke(&mut con)?;
//! ```
//!
//! * **Names** come from the `-- @key NAME [doc]` / `-- @arg NAME [doc]`
//!   lines of the leading comment block, in order (`--- ` lines are docs,
//!   not tags; an unknown `-- @tag` there is an error). Names are Rust
//!   identifiers, unique across keys and args; keywords become raw
//!   (`type` -> `r#type`). Without any `@key`/`@arg`, names are inferred
//!   from the literal indices the body reads: `key1`, `key2`, ..., `arg1`,
//!   ....
//! * **Types.** A fixed parameter is `impl ToSingleRedisArg` (redis-rs'
//!   marker for values that are exactly one argument: strings, numbers,
//!   bytes, `bool`, references to those), so a slice or an `Option` cannot
//!   shift the keys. A script that indexes `KEYS` (or `ARGV`) dynamically
//!   (`KEYS[i]`, `#KEYS`, `unpack(KEYS)`) takes the rest as one slice
//!   parameter, `&[impl ToRedisArgs]`: the header names it with a trailing
//!   `...` on the last `@key` (`-- @key counters...`); inferred, it is
//!   called `keys` (or `args`), after `key1..keyN` for the literal indices
//!   the body also reads.
//! * **Header and body must agree**, else a compile error at the offending
//!   place: a literal index above the declared count (`KEYS[3]` with two
//!   `@key`) names the `KEYS[3]`; a declared entry the body never reads
//!   names the header line (a stale header is a bug; remove the line); a
//!   dynamic use without a `...` parameter, or a `...` without a dynamic
//!   use, is an error too. The check runs on the expanded source.
//! * **`@return TYPE [doc]`** fixes the reply type: the function returns
//!   `TypedInvocation<R>` (`invoke` gives `R`, `invoke_as::<T>` anything
//!   else). Without it, the function returns a plain `Invocation` and the
//!   caller picks the type at `invoke::<T>`. Types (no spaces inside):
//!
//!   | `@return`                  | Rust                 |
//!   |----------------------------|----------------------|
//!   | `integer`, `number`        | `i64`                |
//!   | `string`                   | `String`             |
//!   | `status`                   | `String`             |
//!   | `boolean`                  | `bool` (Lua `false` replies nil: `false`) |
//!   | `value`                    | `redis::Value`       |
//!   | `nil`                      | `()`                 |
//!   | `array`                    | `Vec<redis::Value>`  |
//!   | `array<T>`                 | `Vec<T>`             |
//!   | `nil-or-T`, `T?`           | `Option<T>`          |
//!
//!   Anything else is a compile error listing these.
//! * **Docs.** The function's rustdoc is the script's `---` docs, a
//!   `# Parameters` list from the header and a `# Reply` line.
//!
//! # Includes
//!
//! A line holding only `-- @include "lib/util.lua"` is replaced, at build
//! time, by the lines of that file (as BullMQ writes them, `---
//! @include 'includes/x';` works too: three dashes, single quotes, a `;`,
//! `.lua` implied; an `@include` after code is an error, and a missing
//! file gets "did you mean") (a path relative to the including
//! file's folder, `/`-separated, that must stay inside the script folder;
//! subfolders hold such snippets and are never scripts). Snippets may
//! include others. Each file is expanded at most once per script: a later
//! include of it stays as the comment it is. The SHA-1, the Lua syntax
//! check and the arity analysis are over the expanded source. A missing
//! file, a cycle (`a.lua -> lib/x.lua -> lib/y.lua -> lib/x.lua`), a path
//! leaving the folder and a snippet with a `#!` shebang (only the script's
//! first line may have one) are compile errors that show the include
//! chain; a syntax error in a snippet names the snippet's `file:line:col`,
//! once, however many scripts include it.
//! Included files are tracked like scripts (`include_bytes!`), so editing
//! one rebuilds. The generated `ScriptMeta::lines()` records which lines
//! of the expanded source come from which file, so a runtime Lua error
//! (`user_script:12`) is reported at `lib/util.lua:3`.
//!
//! # Rebuilds
//!
//! Changing or deleting a script rebuilds the crate that embeds it (the
//! macro emits `include_bytes!` of each file). Cargo cannot know that a
//! *new* file appeared, so add this `build.rs` next to `Cargo.toml`, with
//! the folder you embed:
//!
//! ```ignore
//! fn main() {
//!     println!("cargo::rerun-if-changed=lua");
//! }
//! ```
//!
//! # Target servers
//!
//! The lint holds every script to the servers it runs on: every server the
//! lint's tables know (Redis 6.2, 7.0, 8.2, Valkey 8.1, 9.1) unless the
//! folder has a `script-cache.toml` that says otherwise:
//!
//! ```toml
//! servers = ["redis-8.2", "valkey-9.1"]
//! ```
//!
//! The file is tracked like a script (editing it rebuilds); a script's
//! `-- script-cache: servers(...)` narrows it further. An unknown key or
//! server is a compile error on the folder's path, with "did you mean"
//! (see `script_cache_check::servers`).
//!
//! # Layout
//!
//! This crate only parses the macro input and hands it to `expand`. What
//! it shares with the command line lives in `script-cache-check`: `folder`
//! (which files are scripts, reading them), `naming` (file stem -> variant
//! and function names), `include` (`@include` expansion and line spans),
//! `header` (`@key`/`@arg`/`@return`, from the shared leading-comment
//! reader), `signature` (header against body) and the Lua 5.1 verdict and
//! arity. Here: `lua` (docs, and the verdict as the macros report it) and
//! `expand`, split by stage: its root reads the input of the three forms
//! and collects the errors, `expand::analysis` turns each file into an
//! entry, `expand::codegen` emits the tokens.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use proc_macro::TokenStream;
use std::path::PathBuf;

mod expand;
mod lua;

fn manifest_dir() -> Option<PathBuf> {
    std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from)
}

/// Embeds every top-level `*.lua` file of a folder as `pub enum Scripts`,
/// one variant per file, in file-name order.
///
/// ```ignore
/// use script_cache::prelude::*;
///
/// script_cache::include_scripts!("lua/");
///
/// assert_eq!(Scripts::RateLimit.name(), "rate_limit");
/// assert_eq!(Scripts::RateLimit.sha1().len(), 40);
/// assert_eq!("rate_limit".parse(), Ok(Scripts::RateLimit));
/// ```
///
/// The enum derives `Clone, Copy, Debug, PartialEq, Eq, Hash` and
/// implements `EmbeddedScript`, `FromStr` and `Display`. The folder is
/// relative to the crate's `Cargo.toml`; add
/// `println!("cargo::rerun-if-changed=lua");` to `build.rs` so that added
/// files are picked up. See the crate docs for the naming, docs and arity
/// rules.
#[proc_macro]
pub fn include_scripts(input: TokenStream) -> TokenStream {
    expand::include_scripts(input.into(), manifest_dir().as_deref()).into()
}

/// Fills an empty enum with one variant per top-level `*.lua` file of a
/// folder, keeping the enum's name, visibility, docs and attributes.
///
/// ```ignore
/// /// The scripts of the billing service.
/// #[script_cache::scripts(dir = "lua/")]
/// pub(crate) enum Lua {}
/// ```
///
/// The enum must be empty and not generic. `Clone, Copy, Debug, PartialEq,
/// Eq, Hash` are derived for you unless your own `#[derive(..)]` already
/// names them; other derives (`PartialOrd`, `Ord`, `serde`'s ...) are
/// yours to add. Everything else is as for [`include_scripts!`].
#[proc_macro_attribute]
pub fn scripts(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(attr.into(), item.into(), manifest_dir().as_deref()).into()
}

/// Implements `EmbeddedScript`, `FromStr` and `Display` for an enum whose
/// unit variants each name a script.
///
/// ```ignore
/// #[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
/// #[scripts(dir = "lua/")]
/// enum Locks {
///     LockAcquire,                           // lua/lock_acquire.lua
///     #[script(file = "locks/release.lua")]  // relative to the folder
///     Release,
/// }
/// ```
///
/// A variant without `#[script(file = ..)]` uses the top-level file whose
/// stem maps to the variant's name; a variant without a file is an error.
/// An explicit file may sit in a subfolder; its `name()` is its stem, and
/// names must be unique. The enum must derive `Clone, Copy, Debug,
/// PartialEq, Eq` (what `EmbeddedScript` requires); `ALL` lists the
/// variants in declaration order.
#[proc_macro_derive(Scripts, attributes(scripts, script))]
pub fn derive_scripts(input: TokenStream) -> TokenStream {
    expand::derive(input.into(), manifest_dir().as_deref()).into()
}
