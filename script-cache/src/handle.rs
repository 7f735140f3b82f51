//! One type for "a script the runtime can load and call", whether it was
//! embedded at build time or registered at run time.

use std::sync::Arc;

use script_cache_check::sha1_hex;
use script_cache_check::shebang;

use crate::error::ScriptId;
use crate::function::FunctionMeta;
use crate::script::{ScriptMeta, SourceLocation};

/// A script registered at run time: the same data the macros produce for
/// embedded scripts, computed when it is registered.
#[derive(Debug)]
pub(crate) struct DynamicScript {
    pub(crate) id: ScriptId,
    pub(crate) source: Arc<str>,
    pub(crate) legacy: Option<(Arc<str>, Arc<str>)>,
    pub(crate) read_only: bool,
}

impl DynamicScript {
    /// The script `source`, registered under `name`. Its `#!lua` line is
    /// read with the checker's [`shebang::parse`], the one the macros use
    /// (the registry refuses a shebang the servers refuse before it gets
    /// here; one that does not parse is not read-only), and its legacy
    /// body is the checker's [`shebang::legacy_source`].
    pub(crate) fn new(name: &str, source: &str) -> Self {
        let read_only = matches!(
            shebang::parse(source.as_bytes()),
            Ok(Some(shebang)) if shebang.flags.iter().any(|f| f == "no-writes")
        );
        let legacy = shebang::legacy_source(source).map(|legacy| {
            let sha = sha1_hex(&legacy);
            (Arc::from(legacy), Arc::from(sha))
        });
        DynamicScript {
            id: ScriptId {
                name: name.into(),
                sha1: sha1_hex(source).into(),
            },
            source: source.into(),
            legacy,
            read_only,
        }
    }
}

/// Every script embedded with one script: its enum's `ALL`, which a
/// state's first contact with a node asks about in one `SCRIPT EXISTS`
/// (see [`policy`](crate::policy), "cold states").
#[derive(Clone, Copy)]
pub(crate) struct Family {
    visit: fn(&mut dyn FnMut(&'static ScriptMeta)),
    /// The address of the first script's metadata (a `static` of the
    /// generated code): names the family within a state.
    id: usize,
}

impl Family {
    /// The scripts of `S`.
    pub(crate) fn of<S: crate::script::EmbeddedScript>() -> Family {
        fn visit<S: crate::script::EmbeddedScript>(f: &mut dyn FnMut(&'static ScriptMeta)) {
            for script in S::ALL {
                f(script.meta());
            }
        }
        Family {
            visit: visit::<S>,
            id: S::ALL
                .first()
                .map_or(0, |s| std::ptr::from_ref(s.meta()) as usize),
        }
    }

    /// Calls `f` with every script of the family, in the enum's order.
    pub(crate) fn for_each(self, mut f: impl FnMut(&'static ScriptMeta)) {
        (self.visit)(&mut f);
    }

    /// Names the family within a state.
    pub(crate) fn id(self) -> usize {
        self.id
    }
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Family").field(&self.id).finish()
    }
}

/// A script the runtime can load and call.
#[derive(Clone, Debug)]
pub(crate) enum ScriptHandle {
    /// Embedded at build time, with the scripts of its enum when known
    /// (an [`Invocation::of`](crate::Invocation::of) of bare metadata has
    /// none).
    Static(&'static ScriptMeta, Option<Family>),
    /// Registered at run time.
    Dynamic(Arc<DynamicScript>),
    /// A function of a library embedded at build time: its "body" is the
    /// library's code and its load mark the library's SHA-1 (one load
    /// covers every function of the library), and its call names the
    /// function (`FCALL <name>`, [`ScriptHandle::called_as`]), so that
    /// everything built for scripts (marks, the call state machine,
    /// pipelines) carries it; the policy tells the commands apart
    /// ([`ScriptHandle::function`]).
    Function(&'static FunctionMeta),
}

/// Which body of a script a server gets: the exact source, or the variant
/// with the shebang commented out for servers without shebang support.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Body<'a> {
    pub(crate) source: &'a str,
    pub(crate) sha1: &'a str,
}

impl ScriptHandle {
    /// Names the script in an error (allocates for embedded scripts: only
    /// error paths call it).
    pub(crate) fn id(&self) -> ScriptId {
        match self {
            ScriptHandle::Static(meta, _) => ScriptId {
                name: meta.name().into(),
                sha1: meta.sha1().into(),
            },
            ScriptHandle::Dynamic(d) => d.id.clone(),
            ScriptHandle::Function(meta) => ScriptId {
                name: meta.name().into(),
                sha1: meta.library().sha1().into(),
            },
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            ScriptHandle::Static(meta, _) => meta.name(),
            ScriptHandle::Dynamic(d) => &d.id.name,
            ScriptHandle::Function(meta) => meta.name(),
        }
    }

    /// The load mark's key: the SHA-1 of a script, of a function's
    /// library (this build's code: one mark for all of its functions).
    pub(crate) fn sha1(&self) -> &str {
        match self {
            ScriptHandle::Static(meta, _) => meta.sha1(),
            ScriptHandle::Dynamic(d) => &d.id.sha1,
            ScriptHandle::Function(meta) => meta.library().sha1(),
        }
    }

    /// What a call of the body marked `sha1` names: that SHA-1 for a
    /// script (`EVALSHA <sha1>`), the function's name on the server for a
    /// function (`FCALL <name>`, `bump_v<version>` in versioned mode).
    #[inline]
    pub(crate) fn called_as<'s>(&'s self, sha1: &'s str) -> &'s str {
        match self {
            ScriptHandle::Function(meta) => meta.server_name(),
            _ => sha1,
        }
    }

    pub(crate) fn read_only(&self) -> bool {
        match self {
            ScriptHandle::Static(meta, _) => meta.read_only(),
            ScriptHandle::Dynamic(d) => d.read_only,
            ScriptHandle::Function(meta) => meta.read_only(),
        }
    }

    /// The function, when this is a function of a library.
    pub(crate) fn function(&self) -> Option<&'static FunctionMeta> {
        match self {
            ScriptHandle::Function(meta) => Some(meta),
            _ => None,
        }
    }

    /// Whether the script has a shebang, and so a legacy body.
    pub(crate) fn has_shebang(&self) -> bool {
        match self {
            ScriptHandle::Static(meta, _) => meta.legacy().is_some(),
            ScriptHandle::Dynamic(d) => d.legacy.is_some(),
            ScriptHandle::Function(_) => false,
        }
    }

    /// The body to load: `legacy` picks the shebang-less variant.
    pub(crate) fn body(&self, legacy: bool) -> Body<'_> {
        match self {
            ScriptHandle::Static(meta, _) => match meta.legacy() {
                Some(l) if legacy => Body {
                    source: l.source,
                    sha1: l.sha1,
                },
                _ => Body {
                    source: meta.source(),
                    sha1: meta.sha1(),
                },
            },
            ScriptHandle::Dynamic(d) => match &d.legacy {
                Some((source, sha1)) if legacy => Body { source, sha1 },
                _ => Body {
                    source: &d.source,
                    sha1: &d.id.sha1,
                },
            },
            ScriptHandle::Function(meta) => Body {
                source: meta.library().code(),
                sha1: meta.library().sha1(),
            },
        }
    }

    /// The original file and line of a line of the source sent to the
    /// server (the same for the legacy body, which keeps line numbers).
    /// Scripts registered at run time are named by their name.
    pub(crate) fn locate(&self, line: u32) -> Option<SourceLocation> {
        match self {
            ScriptHandle::Static(meta, _) => meta.locate(line),
            ScriptHandle::Dynamic(d) => (line >= 1).then(|| SourceLocation {
                file: d.id.name.to_string(),
                line,
            }),
            ScriptHandle::Function(meta) => (line >= 1).then(|| SourceLocation {
                file: meta.library().file().to_owned(),
                line,
            }),
        }
    }

    /// The scripts embedded with this one, if known.
    pub(crate) fn family(&self) -> Option<Family> {
        match self {
            ScriptHandle::Static(_, family) => *family,
            // A function is no script of an enum: never surveyed.
            ScriptHandle::Dynamic(_) | ScriptHandle::Function(_) => None,
        }
    }

    /// The id a body with SHA-1 `sha1` runs under (the legacy body has its
    /// own SHA-1; a function is named with its library's SHA-1).
    pub(crate) fn id_for(&self, sha1: &str) -> ScriptId {
        if let ScriptHandle::Function(_) = self {
            return self.id();
        }
        ScriptId {
            name: self.name().into(),
            sha1: sha1.into(),
        }
    }
}

impl ScriptHandle {
    /// The handles of every script of `S`.
    pub(crate) fn all<S: crate::script::EmbeddedScript>() -> Vec<ScriptHandle> {
        S::ALL
            .iter()
            .map(|s| ScriptHandle::Static(s.meta(), Some(Family::of::<S>())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_scripts_get_sha_and_legacy_body() {
        let plain = DynamicScript::new("get", "return redis.call('GET', KEYS[1])");
        assert_eq!(
            &*plain.id.sha1,
            sha1_hex("return redis.call('GET', KEYS[1])")
        );
        assert!(plain.legacy.is_none());
        assert!(!plain.read_only);

        let src = "#!lua flags=no-writes,allow-stale\nreturn 1\n";
        let ro = DynamicScript::new("ro", src);
        assert!(ro.read_only);
        let (legacy, sha) = ro.legacy.as_ref().expect("legacy body");
        assert_eq!(&**legacy, "--!lua flags=no-writes,allow-stale\nreturn 1\n");
        assert_eq!(&**sha, sha1_hex(legacy));
        assert_eq!(legacy.lines().count(), src.lines().count());

        let writes = DynamicScript::new("w", "#!lua\nreturn 1");
        assert!(!writes.read_only);
        assert!(writes.legacy.is_some());
    }
}
