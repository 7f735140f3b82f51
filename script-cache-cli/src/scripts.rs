//! A script folder read and checked the way the macros read it, through
//! the shared `script_cache_check` modules: the same files are scripts
//! with the same names (and name clashes), includes are expanded, the Lua
//! 5.1 verdict, the shebang, the header, the header-against-body check of
//! the typed call and the `KEYS`/`ARGV` arity are the same, and every
//! problem is rendered by the same `Diagnostic` (`--> lua/x.lua:3:7`).

use std::path::PathBuf;

use std::collections::BTreeMap;

use script_cache_check::folder::{self, Folder};
use script_cache_check::naming::{self, NameError};
use script_cache_check::servers::Servers;
use script_cache_check::usage::Arity;
use script_cache_check::{analysis, sha1_hex, shebang};

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
    /// The file as shown in messages.
    pub(crate) file: String,
    /// The code with its includes expanded: what `FUNCTION LOAD` gets.
    pub(crate) code: String,
    /// SHA-1 of the code: tells this copy from another of the same name.
    pub(crate) sha1: String,
    pub(crate) functions: Vec<Function>,
}

/// One function a library registers.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub(crate) name: String,
    pub(crate) keys: Arity,
    pub(crate) args: Arity,
    pub(crate) flags: Vec<String>,
}

/// The scripts of a folder, and every problem found in it (rendered).
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) scripts: Vec<Script>,
    /// The function libraries (not scripts: not in `scripts`).
    pub(crate) libraries: Vec<Library>,
    pub(crate) errors: Vec<String>,
    /// The lint's warnings (hazards, not failures), rendered.
    pub(crate) warnings: Vec<String>,
}

/// Reads and checks every top-level script of `dir` (as written by the
/// user, relative to the current directory), for the servers its
/// `script-cache.toml` declares, or for `servers` when given (`check
/// --servers`).
pub(crate) fn check_folder(dir: &str, servers: Option<Servers>) -> Checked {
    let mut folder = Folder {
        written: dir.to_owned(),
        abs: PathBuf::from(dir),
        relative_to: "the current directory".to_owned(),
        config: Default::default(),
    };
    let mut out = Checked::default();
    if let Err(e) = folder::read_config(&mut folder) {
        out.errors.push(e);
    }
    if let Some(servers) = servers {
        folder.config.servers = servers;
    }
    let files = folder::list(&folder, &mut out.errors);
    // `x.LUA`: not a script, as for the macros, but named in a warning.
    out.warnings.extend(folder::other_case_scripts(&folder));
    if files.is_empty() && out.errors.is_empty() {
        out.errors.push(format!(
            "the script folder `{dir}` has no `.lua` files at its top level; add one \
             (subfolders, dotfiles and other files are not scripts)"
        ));
    }
    // Variant names: invalid stems and two files with one variant.
    let mut named = Vec::new();
    for file in files {
        let stem = file.strip_suffix(".lua").unwrap_or(&file).to_owned();
        match naming::variant_name(&stem, &folder.show(&file)) {
            Ok(variant) => named.push((file, variant)),
            Err(NameError(e)) => out.errors.push(e),
        }
    }
    let shown: Vec<(String, &str)> = named
        .iter()
        .map(|(f, v)| (folder.show(f), v.as_str()))
        .collect();
    out.errors.extend(naming::collisions(
        shown.iter().map(|(f, v)| (f.as_str(), *v)),
    ));
    let mut per_variant: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, v) in &named {
        *per_variant.entry(v.as_str()).or_default() += 1;
    }
    let mut fn_names = Vec::new();
    let mut analyses: Vec<(String, analysis::LibraryAnalysis)> = Vec::new();
    for (file, variant) in &named {
        if per_variant.get(variant.as_str()).is_some_and(|n| *n > 1) {
            continue;
        }
        let Some(lua_file) = folder::read(&folder, file, &mut out.errors) else {
            continue;
        };
        let before = out.errors.len();
        let analyzed = analyze(
            &folder,
            lua_file,
            &mut out.errors,
            &mut out.warnings,
            &mut fn_names,
        );
        if out.errors.len() == before {
            match analyzed {
                Some(Analyzed::Script(script)) => out.scripts.push(script),
                Some(Analyzed::Library(library, analysis)) => {
                    analyses.push((library.file.clone(), analysis));
                    out.libraries.push(library);
                }
                None => {}
            }
        }
    }
    // Two scripts with one typed-call function.
    for (message, _) in naming::fn_collisions(
        fn_names
            .iter()
            .map(|(f, n): &(String, String)| (f.as_str(), n.as_str())),
    ) {
        out.errors.push(message);
    }
    // A function registered by two libraries (the server refuses the
    // second), as the macros say it.
    let shown: Vec<(&str, &analysis::LibraryAnalysis)> =
        analyses.iter().map(|(f, a)| (f.as_str(), a)).collect();
    for (_, _, message) in analysis::function_clashes(&shown) {
        out.errors.push(message);
    }
    dedupe(&mut out.errors);
    dedupe(&mut out.warnings);
    out
}

/// A file of the folder: a script or a function library.
enum Analyzed {
    Script(Script),
    Library(Library, analysis::LibraryAnalysis),
}

/// A problem in a snippet reached from several scripts is reported once
/// (with the first include chain), as the macros do.
fn dedupe(errors: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    errors.retain(|e| {
        let key = e
            .find("\n  = note: in a snippet, included as ")
            .map_or(e.as_str(), |at| &e[..at]);
        seen.insert(key.to_owned())
    });
}

/// One file through the macros' own analysis (`script_cache_check::analysis`):
/// the same checks, in the same order, with the same messages.
fn analyze(
    folder: &Folder,
    file: folder::LuaFile,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
    fn_names: &mut Vec<(String, String)>,
) -> Option<Analyzed> {
    file.source.as_ref()?;
    let analysis = analysis::analyze(folder, &file, errors);
    warnings.extend(analysis.warnings);
    if let Some(library) = analysis.library {
        let code = analysis.expanded.source;
        let shared = library.clone();
        return Some(Analyzed::Library(
            Library {
                name: library.name,
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
                            keys,
                            args,
                            flags: f.function.flags,
                        }
                    })
                    .collect(),
            },
            shared,
        ));
    }
    if let Some(name) = analysis.fn_name {
        fn_names.push((analysis.shown.clone(), name));
    }
    let usage = analysis.usage.unwrap_or_default();
    let source = analysis.expanded.source;
    let legacy = shebang::legacy_source(&source).map(|l| {
        let sha1 = sha1_hex(&l);
        (l, sha1)
    });
    Some(Analyzed::Script(Script {
        name: file.stem,
        file: analysis.shown,
        sha1: sha1_hex(&source),
        source,
        legacy,
        keys: usage.keys,
        args: usage.args,
        flags: analysis.flags,
    }))
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
        let all = checked.errors.join("\n");
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
            checked.errors.iter().any(|e| e.contains("also registered")),
            "{:?}",
            checked.errors
        );
    }
}
