//! Ship Redis/Valkey Lua scripts inside your binary.
//!
//! See the README for the overview; the sections below grow with the crate.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cache;
mod call;
mod error;
mod handle;
mod invocation;
mod pipeline;
mod registry;
mod script;
mod state;

pub use cache::ScriptCache;
pub use error::{Error, Result, ScriptId};
pub use invocation::Invocation;
pub use pipeline::{Pipeline, pipe};
pub use script::{Arity, EmbeddedScript, LegacySource, ScriptMeta, UnknownScriptName};
pub use state::Stats;

#[cfg(feature = "macros")]
pub use script_cache_macros::{Scripts, include_scripts, scripts};

/// The names most programs need: `use script_cache::prelude::*;`.
pub mod prelude {
    pub use crate::cache::ScriptCache;
    pub use crate::script::{Arity, EmbeddedScript};
    #[cfg(feature = "macros")]
    pub use script_cache_macros::{Scripts, include_scripts, scripts};
}

/// Paths used by generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::script::{Arity, EmbeddedScript, LegacySource, ScriptMeta, UnknownScriptName};
    pub use core;
}
