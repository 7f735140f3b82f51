//! A script folder read and checked the way the macros read it, through
//! the shared `script_cache_check` modules: the same files are scripts
//! with the same names (and name clashes), includes are expanded, the Lua
//! 5.1 verdict, the shebang, the header, the header-against-body check of
//! the typed call and the `KEYS`/`ARGV` arity are the same, and every
//! problem is the same `Diagnostic`.

use std::path::PathBuf;

use script_cache_check::folder::{self, Folder};
use script_cache_check::servers::{self, FunctionsMode, Servers};
use script_cache_check::usage::Arity;
use script_cache_check::{Diagnostic, analysis, sha1_hex, shebang};

/// One script of the folder, ready to load.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    /// The file stem, as `name()` of the embedded enum.
    pub(crate) name: String,
    /// The file as shown in messages, e.g. `lua/a.lua`.
    pub(crate) file: String,
    /// The source with its includes expanded: what is hashed and sent.
    pub(crate) source: String,
    /// Its SHA-1, what `SCRIPT LOAD` answers.
    pub(crate) sha1: String,
    /// For a `#!` script: the body for servers before Redis 7 (`#!` turned
    /// into `--!`) and its SHA-1, as the runtime loads it there.
    pub(crate) legacy: Option<(String, String)>,
    pub(crate) keys: Arity,
    pub(crate) args: Arity,
    /// The shebang flags, in the order written.
    pub(crate) flags: Vec<String>,
}

impl Script {
    /// `flags=no-writes`.
    pub(crate) fn read_only(&self) -> bool {
        self.flags.iter().any(|f| f == "no-writes")
    }
}

/// One function library of the folder (`#!lua name=<library>`).
#[derive(Debug, Clone)]
pub(crate) struct Library {
    /// Its name, from the `#!lua name=` line.
    pub(crate) name: String,
    /// Its name on the server: `name`, or in versioned mode
    /// `<name>_v<version>`.
    pub(crate) server_name: String,
    /// The file as shown in messages.
    pub(crate) file: String,
    /// The code with its includes expanded (and in versioned mode the
    /// names on the server written in): what `FUNCTION LOAD` gets.
    pub(crate) code: String,
    /// SHA-1 of the code: tells this copy from another of the same name.
    pub(crate) sha1: String,
    pub(crate) functions: Vec<Function>,
}

/// One function a library registers.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub(crate) name: String,
    /// Its name on the server, as `FCALL` takes it.
    pub(crate) server_name: String,
    pub(crate) keys: Arity,
    pub(crate) args: Arity,
    pub(crate) flags: Vec<String>,
}

/// The scripts of a folder, and every problem found in it.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) scripts: Vec<Script>,
    /// The function libraries (not scripts: not in `scripts`).
    pub(crate) libraries: Vec<Library>,
    /// The names of every library of the folder (those with errors too),
    /// for `prune`: which libraries on a server are versions of them.
    pub(crate) library_names: Vec<String>,
    /// How the folder's libraries are named on the server
    /// (`functions` in its `script-cache.toml`).
    pub(crate) functions: FunctionsMode,
    pub(crate) errors: Vec<Diagnostic>,
    /// The lint's warnings (hazards, not failures).
    pub(crate) warnings: Vec<Diagnostic>,
}

/// Reads and checks every top-level script of `dir` (as written by the
/// user, relative to the current directory), for the servers its
/// `script-cache.toml` declares, or for `servers` when given (`check
/// --servers`), through the macros' own folder pipeline
/// (`script_cache_check::analysis::check_folder`).
pub(crate) fn check_folder(dir: &str, servers: Option<Servers>) -> Checked {
    let mut folder = Folder {
        written: dir.to_owned(),
        abs: PathBuf::from(dir),
        relative_to: "the current directory".to_owned(),
        config: Default::default(),
    };
    let mut out = Checked::default();
    if let Err(e) = folder::read_config(&mut folder) {
        out.errors
            .push(Diagnostic::file(folder.show(servers::CONFIG_FILE), e));
    }
    if let Some(servers) = servers {
        folder.config.servers = servers;
    }
    out.functions = folder.config.functions;
    let checked = analysis::check_folder(&folder);
    out.library_names = checked
        .scripts
        .iter()
        .filter_map(|s| s.analysis.library.as_ref())
        .map(|l| l.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    out.errors.extend(checked.errors);
    out.warnings.extend(checked.warnings);
    // The scripts without an error of their own (`with_scripts` refuses a
    // folder with any error; `check --format json` lists these).
    let has_error = |shown: &str| out.errors.iter().any(|e| e.file == shown);
    let fine: Vec<analysis::Analyzed> = checked
        .scripts
        .into_iter()
        .filter(|s| !has_error(&s.analysis.shown) && s.file.source.is_some())
        .collect();
    for s in fine {
        if s.analysis.library.is_some() {
            out.libraries.push(library(s));
        } else {
            out.scripts.push(script(s));
        }
    }
    out
}

/// One analysed function library, ready to load.
fn library(s: analysis::Analyzed) -> Library {
    let analysis = s.analysis;
    let library = analysis
        .library
        .unwrap_or_else(|| analysis::LibraryAnalysis {
            name: String::new(),
            server_name: String::new(),
            version: None,
            code: analysis.expanded.source.clone(),
            functions: Vec::new(),
        });
    let code = library.code;
    Library {
        name: library.name,
        server_name: library.server_name,
        file: analysis.shown,
        sha1: sha1_hex(&code),
        code,
        functions: library
            .functions
            .into_iter()
            .map(|f| {
                let (keys, args) = match &f.signature {
                    Some(sig) => (params_arity(&sig.keys), params_arity(&sig.args)),
                    None => (f.function.usage.keys, f.function.usage.args),
                };
                Function {
                    name: f.function.name,
                    server_name: f.server_name,
                    keys,
                    args,
                    flags: f.function.flags,
                }
            })
            .collect(),
    }
}

/// One analysed script, ready to load.
fn script(s: analysis::Analyzed) -> Script {
    let analysis = s.analysis;
    let usage = analysis.usage.unwrap_or_default();
    let source = analysis.expanded.source;
    let legacy = shebang::legacy_source(&source).map(|l| {
        let sha1 = sha1_hex(&l);
        (l, sha1)
    });
    Script {
        name: s.file.stem,
        file: analysis.shown,
        sha1: sha1_hex(&source),
        source,
        legacy,
        keys: usage.keys,
        args: usage.args,
        flags: analysis.flags,
    }
}

/// The arity of a typed call's parameters (a rest slice: variadic).
fn params_arity(params: &[script_cache_check::signature::Parameter]) -> Arity {
    let fixed = params.iter().filter(|p| !p.rest).count();
    if params.iter().any(|p| p.rest) {
        Arity::Variadic { min: fixed }
    } else {
        Arity::Exact(fixed)
    }
}

/// `2`, `2+` (at least two, variadic).
pub(crate) fn arity(a: Arity) -> String {
    match a {
        Arity::Exact(n) => n.to_string(),
        Arity::Variadic { min } => format!("{min}+"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_body_for_old_servers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.lua"), "#!lua flags=no-writes\nreturn 1").unwrap();
        let checked = check_folder(dir.path().to_str().unwrap(), None);
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        let s = &checked.scripts[0];
        assert!(s.read_only());
        assert_eq!(s.sha1, sha1_hex("#!lua flags=no-writes\nreturn 1"));
        let (legacy, legacy_sha1) = s.legacy.as_ref().unwrap();
        assert_eq!(legacy, "--!lua flags=no-writes\nreturn 1");
        assert_eq!(*legacy_sha1, sha1_hex(legacy));
        assert_eq!(arity(Arity::Variadic { min: 2 }), "2+");
    }

    #[test]
    fn names_and_signatures_as_the_macros() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("rate_limit.lua"), "return KEYS[1]").unwrap();
        std::fs::write(p.join("rate-limit.lua"), "return KEYS[1]").unwrap();
        std::fs::write(p.join("1st.lua"), "return 1").unwrap();
        std::fs::write(p.join("stale.lua"), "-- @key a\n-- @key b\nreturn KEYS[1]").unwrap();
        let checked = check_folder(p.to_str().unwrap(), None);
        let all: String = checked.errors.iter().map(|e| format!("{e}\n")).collect();
        assert!(all.contains("starts with a digit"), "{all}");
        assert!(all.contains("RateLimit"), "{all}");
        assert!(all.contains("stale.lua:2"), "{all}");
        assert_eq!(checked.errors.len(), 3, "{all}");
        assert!(checked.scripts.is_empty());
    }

    #[test]
    fn libraries_are_no_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let lib = "#!lua name=counters\n-- @key counter\n-- @arg by\n\
                   redis.register_function('bump', function(keys, args)\n\
                   \x20 return redis.call('INCRBY', keys[1], args[1])\nend)\n\
                   redis.register_function{function_name = 'peek', flags = {'no-writes'},\n\
                   \x20 callback = function(k) return redis.call('GET', k[1]) end}\n";
        std::fs::write(p.join("counters.lua"), lib).unwrap();
        std::fs::write(p.join("get.lua"), "return redis.call('GET', KEYS[1])").unwrap();
        let checked = check_folder(p.to_str().unwrap(), None);
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        assert_eq!(checked.scripts.len(), 1);
        let l = &checked.libraries[0];
        assert_eq!(
            (l.name.as_str(), l.sha1.as_str()),
            ("counters", sha1_hex(lib).as_str())
        );
        let names: Vec<&str> = l.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["bump", "peek"]);
        assert_eq!(
            (l.functions[0].keys, l.functions[0].args),
            (Arity::Exact(1), Arity::Exact(1))
        );
        assert_eq!(l.functions[1].flags, ["no-writes"]);
        // The same function in a second library.
        std::fs::write(
            p.join("other.lua"),
            "#!lua name=other\nredis.register_function('bump', function() return 1 end)\n",
        )
        .unwrap();
        let checked = check_folder(p.to_str().unwrap(), None);
        assert!(
            checked
                .errors
                .iter()
                .any(|e| e.message.contains("also registered")
                    && e.file.ends_with("other.lua")
                    && e.line == 2),
            "{:?}",
            checked.errors
        );
    }
}
