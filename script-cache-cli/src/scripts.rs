//! A script folder read and checked the way the macros read it, through
//! the shared `script_cache_check` modules: the same files are scripts
//! with the same names (and name clashes), includes are expanded, the Lua
//! 5.1 verdict, the shebang, the header, the header-against-body check of
//! the typed call and the `KEYS`/`ARGV` arity are the same, and every
//! problem is rendered by the same `Diagnostic` (`--> lua/x.lua:3:7`).

use std::path::PathBuf;

use std::collections::BTreeMap;

use script_cache_check::folder::{self, Folder};
use script_cache_check::include::{self, Expanded};
use script_cache_check::naming::{self, NameError};
use script_cache_check::signature::{self, At};
use script_cache_check::usage::{Arity, Usage};
use script_cache_check::{Diagnostic, header, lex, shebang};

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

    /// The body and SHA-1 a server of this major version runs.
    pub(crate) fn for_major(&self, major: u32) -> (&str, &str) {
        match &self.legacy {
            Some((source, sha1)) if major < 7 => (source, sha1),
            _ => (&self.source, &self.sha1),
        }
    }
}

/// The scripts of a folder, and every problem found in it (rendered).
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) scripts: Vec<Script>,
    pub(crate) errors: Vec<String>,
}

/// SHA-1 in lowercase hex.
pub(crate) fn sha1_hex(source: &str) -> String {
    sha1_smol::Sha1::from(source.as_bytes())
        .digest()
        .to_string()
}

/// Reads and checks every top-level script of `dir` (as written by the
/// user, relative to the current directory).
pub(crate) fn check_folder(dir: &str) -> Checked {
    let folder = Folder {
        written: dir.to_owned(),
        abs: PathBuf::from(dir),
        relative_to: "the current directory".to_owned(),
    };
    let mut out = Checked::default();
    let files = folder::list(&folder, &mut out.errors);
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
    for (file, variant) in &named {
        if per_variant.get(variant.as_str()).is_some_and(|n| *n > 1) {
            continue;
        }
        let Some(lua_file) = folder::read(&folder, file, &mut out.errors) else {
            continue;
        };
        let before = out.errors.len();
        let script = analyze(&folder, lua_file, &mut out.errors, &mut fn_names);
        if out.errors.len() == before {
            out.scripts.extend(script);
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
    dedupe(&mut out.errors);
    out
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

/// Shebang, includes, header, Lua syntax and arity of one file.
fn analyze(
    folder: &Folder,
    file: folder::LuaFile,
    errors: &mut Vec<String>,
    fn_names: &mut Vec<(String, String)>,
) -> Option<Script> {
    let shown = folder.show(&file.file);
    let original = file.source?;
    let before = errors.len();
    let at_script = |line: usize, column: Option<usize>, message: &str| {
        render(&shown, Some(&original), line, column, message, None)
    };
    let flags = match shebang::parse(original.as_bytes()) {
        Ok(s) => s.map(|s| s.flags).unwrap_or_default(),
        Err(e) => {
            errors.push(at_script(1, usize::try_from(e.column).ok(), &e.message));
            Vec::new()
        }
    };
    let (expanded, problems) = include::expand(&file.file, &original, &mut |rel| {
        folder::read_snippet(folder, rel)
    });
    for p in problems {
        let source = if p.file == file.file {
            Some(original.clone())
        } else {
            folder::read_snippet(folder, &p.file).ok()
        };
        errors.push(render(
            &folder.show(&p.file),
            source.as_deref(),
            p.line,
            Some(p.column),
            &p.message,
            None,
        ));
    }
    let locate = |line: u32, column: u32, message: &str| {
        let line = usize::try_from(line).unwrap_or(usize::MAX);
        let column = usize::try_from(column).ok();
        locate_in(
            folder, &file.file, &expanded, line, column, message, &at_script,
        )
    };
    let mut parsed = true;
    let usage = match syntax_and_usage(&expanded.source) {
        Ok(usage) => usage,
        Err((line, column, message)) => {
            parsed = false;
            errors.push(locate(line, column, &message));
            Usage::default()
        }
    };
    let (head, problems) = header::parse(&original);
    for p in problems {
        errors.push(at_script(p.line, Some(p.column), &p.message));
    }
    // The typed call, as the macros check it: its name, then the header
    // against what the body reads.
    if parsed && errors.len() == before {
        match naming::fn_name(&file.stem, &shown) {
            Ok(name) => {
                fn_names.push((shown.clone(), name));
                if let Err(problems) = signature::signature(&head, &usage) {
                    for p in problems {
                        errors.push(match p.at {
                            At::Header(line) => at_script(line, None, &p.message),
                            At::Body((line, column)) => locate(line, column, &p.message),
                        });
                    }
                }
            }
            Err(NameError(e)) => errors.push(e),
        }
    }
    let source = expanded.source;
    let legacy = shebang::legacy_source(&source).map(|l| {
        let sha1 = sha1_hex(&l);
        (l, sha1)
    });
    Some(Script {
        name: file.stem,
        file: shown,
        sha1: sha1_hex(&source),
        source,
        legacy,
        keys: usage.keys,
        args: usage.args,
        flags,
    })
}

/// A message about a line of the expanded source, located in the
/// original file, with the include chain when that is a snippet.
fn locate_in(
    folder: &Folder,
    file: &str,
    expanded: &Expanded,
    line: usize,
    column: Option<usize>,
    message: &str,
    at_script: &dyn Fn(usize, Option<usize>, &str) -> String,
) -> String {
    match expanded.locate(line) {
        Some((f, l)) if f != file => render(
            &folder.show(f),
            folder::read_snippet(folder, f).ok().as_deref(),
            l,
            column,
            message,
            Some(format!(
                "in a snippet, included as {}",
                expanded.chain(f).unwrap_or_default()
            )),
        ),
        Some((_, l)) => at_script(l, column, message),
        None => at_script(line, column, message),
    }
}

/// The servers' Lua 5.1 verdict, then the arity from the tokens Lua reads;
/// the messages are the macros'.
fn syntax_and_usage(source: &str) -> Result<Usage, (u32, u32, String)> {
    let bytes = source.as_bytes();
    if let Err(e) = script_cache_check::check_syntax(bytes) {
        return Err((
            e.line,
            e.column.unwrap_or(1),
            format!("Lua 5.1 syntax error: {}", e.message),
        ));
    }
    let body = script_cache_check::lua_body(bytes).unwrap_or_default();
    let lexed = lex::lex(body);
    script_cache_check::usage::usage(body, &lexed).map_err(|e| {
        (
            e.at.0,
            e.at.1,
            format!(
                "`{}[{}]`: literal indices above {} are not supported (a typed call takes one \
                 parameter per entry); index with a variable (`{0}[i]`), and the typed call \
                 takes a slice",
                e.table,
                e.written,
                script_cache_check::usage::MAX_LITERAL_INDEX,
            ),
        )
    })
}

/// One problem, by the one renderer.
fn render(
    file: &str,
    source: Option<&str>,
    line: usize,
    column: Option<usize>,
    message: &str,
    note: Option<String>,
) -> String {
    let line = u32::try_from(line).unwrap_or(u32::MAX);
    let column = column.and_then(|c| u32::try_from(c).ok());
    let mut d = Diagnostic::new(file, line, column, message);
    if let Some(source) = source {
        d = d.with_source(source.as_bytes());
    }
    if let Some(note) = note {
        d = d.with_note(note);
    }
    d.to_string()
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
        let checked = check_folder(dir.path().to_str().unwrap());
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        let s = &checked.scripts[0];
        assert!(s.read_only());
        assert_eq!(
            s.for_major(7).1,
            sha1_hex("#!lua flags=no-writes\nreturn 1")
        );
        assert_eq!(s.for_major(6).0, "--!lua flags=no-writes\nreturn 1");
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
        let checked = check_folder(p.to_str().unwrap());
        let all = checked.errors.join("\n");
        assert!(all.contains("starts with a digit"), "{all}");
        assert!(all.contains("RateLimit"), "{all}");
        assert!(all.contains("stale.lua:2"), "{all}");
        assert_eq!(checked.errors.len(), 3, "{all}");
        assert!(checked.scripts.is_empty());
    }
}
