//! One script file from text to what the macros and the command line both
//! need: its shebang flags, its source with the includes expanded, the
//! servers' Lua 5.1 verdict and the `KEYS`/`ARGV` arity, its header, and
//! the name and parameters of its typed call; every problem a
//! [`Diagnostic`], in one order, at the file (script or snippet) that has it.
//!
//! [`check_folder`] is the one folder pipeline of the macros' folder forms
//! and the command line: list the scripts, name them, report the names
//! two files share, read each file, analyse it (a function library too:
//! its functions, their headers and the lint in the library's
//! environment), report the typed-call functions two scripts share and
//! the functions two libraries register, and drop the problems reported
//! twice.

use std::collections::BTreeMap;

use crate::diagnostic::{self, Diagnostic, Severity};
use crate::folder::{self, Folder, LuaFile};
use crate::header::{self, Header};
use crate::include::{self, Expanded};
use crate::naming::{self, NameError};
use crate::servers::FunctionsMode;
use crate::signature::{self, At, Signature};
use crate::usage::Usage;

/// What [`analyze`] found in one file.
pub struct FileAnalysis {
    /// The file as shown in messages, e.g. `lua/a.lua`.
    pub shown: String,
    /// The file's text as written (empty when it could not be read).
    pub original: String,
    /// The shebang's flags.
    pub flags: Vec<String>,
    /// The source with its includes expanded: what is hashed and sent.
    pub expanded: Expanded,
    /// The arity, when Lua accepted the expanded source.
    pub usage: Option<Usage>,
    /// The header tags.
    pub header: Header,
    /// The typed call's function name, when the file had no other problem.
    pub fn_name: Option<String>,
    /// The typed call's parameters, when its name and header were fine.
    pub signature: Option<Signature>,
    /// The lint's warnings (its errors go with the others).
    pub warnings: Vec<Diagnostic>,
    /// The library, when the file is a function library (`#!lua
    /// name=<library>`): then `flags` is empty, and `header`, `fn_name`
    /// and `signature` are those of no script.
    pub library: Option<LibraryAnalysis>,
}

/// A function library's name and functions, from [`analyze`].
#[derive(Clone)]
pub struct LibraryAnalysis {
    /// The name of its `#!lua name=` line.
    pub name: String,
    /// Its name on the server: `name`, or in versioned mode
    /// `<name>_v<version>` ([`crate::version`]).
    pub server_name: String,
    /// The version in its names on the server (versioned mode only).
    pub version: Option<String>,
    /// The code sent with `FUNCTION LOAD`: the expanded source, with the
    /// names on the server written in (versioned mode).
    pub code: String,
    /// Its functions, in registration order (those with problems too).
    pub functions: Vec<FunctionAnalysis>,
}

/// One registered function of a library.
#[derive(Clone)]
pub struct FunctionAnalysis {
    /// What its registration says.
    pub function: crate::library::Function,
    /// Its name on the server (`FCALL` takes it): the registered name,
    /// or in versioned mode `<name>_v<version>`.
    pub server_name: String,
    /// The tags of the comment block above its registration.
    pub header: Header,
    /// Its typed call's function name, when it had no problem.
    pub fn_name: Option<String>,
    /// Its typed call's parameters, when its name and header were fine.
    pub signature: Option<Signature>,
    /// Its registration, located in the files (the library or a snippet
    /// it includes): a diagnostic there with an empty message.
    pub located: Diagnostic,
}

/// Analyzes one file of `folder`, pushing every problem to `errors`:
/// shebang, includes, Lua syntax and arity, header, then (only when none of
/// those had a problem) the typed call's name and the header against the
/// body. A file whose text could not be read is analyzed as empty and
/// reports nothing of its own (reading it reported why).
pub fn analyze(folder: &Folder, file: &LuaFile, errors: &mut Vec<Diagnostic>) -> FileAnalysis {
    let shown = folder.show(&file.file);
    let errors_before = errors.len();
    let original = file.source.clone().unwrap_or_default();
    let in_script = |line: usize, column: Option<usize>, message: String| {
        diagnostic(&shown, Some(&original), line, column, message, None)
    };
    let library_name = match crate::library::library_name(original.as_bytes()) {
        None => None,
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => {
            errors.push(in_script(1, usize::try_from(e.column).ok(), e.message));
            Some(String::new())
        }
    };
    let flags = match &library_name {
        Some(_) => Vec::new(),
        None => match crate::shebang::parse(original.as_bytes()) {
            Ok(shebang) => shebang.map(|s| s.flags).unwrap_or_default(),
            Err(e) => {
                errors.push(in_script(1, usize::try_from(e.column).ok(), e.message));
                Vec::new()
            }
        },
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
        errors.push(diagnostic(
            &folder.show(&p.file),
            source.as_deref(),
            p.line,
            Some(p.column),
            p.message,
            p.chain.map(|chain| format!("include chain: {chain}")),
        ));
    }
    // A problem at `line:col` of the expanded source, located in the
    // original file, with the include chain when that is a snippet.
    let locate = |(line, column): (u32, u32), message: String| {
        let line_in_expanded = usize::try_from(line).unwrap_or(usize::MAX);
        let column = usize::try_from(column).ok();
        match expanded.locate(line_in_expanded) {
            Some((f, l)) if f != file.file => diagnostic(
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
            Some((_, l)) => in_script(l, column, message),
            None => in_script(line_in_expanded, column, message),
        }
    };
    let usage = match syntax_and_usage(&expanded.source) {
        Ok(usage) => Some(usage),
        Err((at, message)) => {
            if file.source.is_some() {
                errors.push(locate(at, message));
            }
            None
        }
    };
    if let Some(name) = library_name {
        let servers = library_servers(folder.config.servers);
        if servers.is_none() {
            errors.push(in_script(
                1,
                Some(1),
                "a function library needs Redis 7.0 or newer (or Valkey), and the folder's \
                 `script-cache.toml` targets only redis-6.2: add a newer server to its \
                 `servers`, or make the file a script (remove `name=`)"
                    .to_owned(),
            ));
        }
        let mut functions = Vec::new();
        let mut warnings = Vec::new();
        if usage.is_some() && file.source.is_some() {
            let (found, problems) = crate::library::functions(&expanded.source);
            for p in problems {
                errors.push(locate((p.line, p.column), p.message));
            }
            for function in found {
                let (head, problems) = header::parse(&function.comments);
                let mut fine = problems.is_empty();
                for p in problems {
                    let line = u32::try_from(p.line).unwrap_or(u32::MAX);
                    let column = u32::try_from(p.column).unwrap_or(1);
                    errors.push(locate((line, column), p.message));
                }
                let fn_name = match naming::fn_name(&function.name, &shown) {
                    Ok(n) => Some(n),
                    Err(NameError(e)) => {
                        errors.push(locate((function.line, function.column), e));
                        fine = false;
                        None
                    }
                };
                let mut signature = None;
                if fine {
                    match signature::signature(&head, &function.usage) {
                        Ok(s) => signature = Some(s),
                        Err(problems) => {
                            for p in problems {
                                let at = match p.at {
                                    At::Header(line) => {
                                        (u32::try_from(line).unwrap_or(u32::MAX), 1)
                                    }
                                    At::Body(at) => at,
                                };
                                let message = p
                                    .message
                                    .replace("`KEYS[", &format!("`{}[", function.params.0))
                                    .replace("`ARGV[", &format!("`{}[", function.params.1));
                                errors.push(locate(at, message));
                            }
                        }
                    }
                }
                let located = locate((function.line, function.column), String::new());
                functions.push(FunctionAnalysis {
                    located,
                    server_name: function.name.clone(),
                    function,
                    header: head,
                    fn_name,
                    signature,
                });
            }
            // Where a `no-writes` function's writes are refused: its
            // callback, then the local functions it calls (a write there
            // runs when the function does, and the server refuses it).
            let no_writes = || functions.iter().filter(|f| f.function.read_only());
            let read_only: Vec<(&str, Option<&str>, (u32, u32))> = no_writes()
                .map(|f| (f.function.name.as_str(), None, f.function.body_lines))
                .chain(no_writes().flat_map(|f| {
                    f.function.helpers.iter().map(|(helper, lines)| {
                        (f.function.name.as_str(), Some(helper.as_str()), *lines)
                    })
                }))
                .collect();
            let mut findings = Vec::new();
            if let (Some(servers), false) = (servers, read_only.is_empty()) {
                for finding in crate::lint::library_writes_for(&expanded.source, servers) {
                    let Some((name, helper, _)) = read_only
                        .iter()
                        .find(|(_, _, (first, last))| (*first..=*last).contains(&finding.line))
                    else {
                        continue;
                    };
                    let calls = helper
                        .map(|h| format!(" and calls `{h}`, which has this write"))
                        .unwrap_or_default();
                    let mut finding = finding;
                    finding.message = finding
                        .message
                        .replace(
                            "the script declares `flags=no-writes`",
                            &format!(
                                "the function `{name}` is registered with the flag \
                                 `no-writes`{calls}"
                            ),
                        )
                        .replace(
                            " (Redis 6.2 does not enforce the flag and would run the write)",
                            "",
                        );
                    finding.help = finding.help.replace(
                        "drop `no-writes` from the shebang, or the write from the script",
                        "drop `no-writes` from the function's flags, or the write from it",
                    );
                    findings.push(finding);
                }
            }
            if let Some(servers) = servers {
                findings.extend(crate::lint::lint_library_for(&expanded.source, servers));
            }
            // In source order, as a script's.
            findings.sort_by_key(|f| (f.line, f.column));
            push_findings(findings, &expanded.source, &locate, errors, &mut warnings);
        }
        let mut library = LibraryAnalysis {
            server_name: name.clone(),
            version: None,
            code: expanded.source.clone(),
            name,
            functions,
        };
        if folder.config.functions == FunctionsMode::Versioned
            && !library.name.is_empty()
            && !library.functions.is_empty()
        {
            version(
                &mut library,
                &expanded.source,
                || in_script(1, Some(1), String::new()),
                errors,
            );
        }
        return FileAnalysis {
            shown,
            original,
            flags,
            expanded,
            usage,
            header: Header::default(),
            fn_name: None,
            signature: None,
            warnings,
            library: Some(library),
        };
    }
    let (head, problems) = header::parse(&original);
    for p in problems {
        errors.push(in_script(p.line, Some(p.column), p.message));
    }
    let (mut fn_name, mut sig) = (None, None);
    if let Some(usage) = &usage
        && file.source.is_some()
        && errors.len() == errors_before
    {
        match naming::fn_name(&file.stem, &shown) {
            Ok(name) => {
                fn_name = Some(name);
                match signature::signature(&head, usage) {
                    Ok(s) => sig = Some(s),
                    Err(problems) => {
                        for p in problems {
                            errors.push(match p.at {
                                At::Header(line) => in_script(line, None, p.message),
                                At::Body(at) => locate(at, p.message),
                            });
                        }
                    }
                }
            }
            Err(NameError(e)) => errors.push(Diagnostic::file(&shown, e)),
        }
    }
    // The lint, once Lua accepted the source (its errors do not stop the
    // typed call from being generated: no cascade at its uses).
    let mut warnings = Vec::new();
    if usage.is_some() && file.source.is_some() {
        let findings = crate::lint::lint_for(&expanded.source, &flags, folder.config.servers);
        push_findings(findings, &expanded.source, &locate, errors, &mut warnings);
    }
    FileAnalysis {
        shown,
        original,
        flags,
        expanded,
        usage,
        header: head,
        fn_name,
        signature: sig,
        warnings,
        library: None,
    }
}

/// Gives `library` its versioned names and code ([`crate::version`]);
/// a rewrite that fails (it cannot, for what the library reader
/// accepted) is an error at the library's first line.
fn version(
    library: &mut LibraryAnalysis,
    source: &str,
    at_first_line: impl Fn() -> Diagnostic,
    errors: &mut Vec<Diagnostic>,
) {
    let names: Vec<(&str, (usize, usize))> = library
        .functions
        .iter()
        .map(|f| (f.function.name.as_str(), f.function.name_span))
        .collect();
    match crate::version::rewrite(source, &library.name, &names) {
        Ok(versioned) => {
            for (f, server_name) in library.functions.iter_mut().zip(versioned.functions) {
                f.server_name = server_name;
            }
            library.server_name = versioned.library;
            library.version = Some(versioned.version);
            library.code = versioned.code;
        }
        Err(e) => {
            let mut d = at_first_line();
            d.message = format!(
                "cannot give the library versioned names (`functions = \"versioned\"`): {e}"
            );
            errors.push(d);
        }
    }
}

/// The lint's findings on an expanded source as diagnostics located in the
/// files (`locate`), each ending where its token ends: errors to `errors`,
/// warnings to `warnings`.
fn push_findings(
    findings: Vec<crate::lint::Finding>,
    source: &str,
    locate: &dyn Fn((u32, u32), String) -> Diagnostic,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let lexed = (!findings.is_empty()).then(|| crate::lex::lex(source.as_bytes()));
    for finding in findings {
        let severity = finding.severity();
        let mut d = locate((finding.line, finding.column), finding.message)
            .with_rule(finding.rule.name())
            .with_severity(severity)
            .with_help(finding.help);
        // The end: that of the token the finding starts at, on the lines
        // of the file that has it.
        if let Some(lexed) = &lexed
            && d.line > 0
            && let Some((end_line, end_column)) =
                token_end(source.as_bytes(), lexed, finding.line, finding.column)
        {
            let end_line = d.line.saturating_add(end_line.saturating_sub(finding.line));
            d = d.with_end(end_line, end_column);
        }
        match severity {
            Severity::Error => errors.push(d),
            Severity::Warning => warnings.push(d),
        }
    }
}

/// The functions that two libraries of a folder register under one name
/// (or under names with one variant of `Functions`, `bump` and `Bump`):
/// for each later one, its library's index in `libraries` (each given as
/// the file shown and its analysis), its index there, and the error at
/// its registration. The server refuses the second library ("Function
/// already exists"); the macros and the command line say it the same way.
pub fn function_clashes(libraries: &[(&str, &LibraryAnalysis)]) -> Vec<(usize, usize, Diagnostic)> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut out = Vec::new();
    for (l, (shown, library)) in libraries.iter().enumerate() {
        for (i, f) in library.functions.iter().enumerate() {
            let name = &f.function.name;
            let variant = naming::variant_name(name, shown).unwrap_or_else(|_| name.clone());
            match seen.iter().find(|(v, _)| *v == variant) {
                Some((_, first)) => {
                    let mut d = f.located.clone();
                    d.message = format!(
                        "the function `{name}` is also registered by `{first}`: a server has \
                         one function of each name (it refuses the second library: \"Function \
                         {name} already exists\"), and `Functions` one variant `{variant}`; \
                         rename one of them"
                    );
                    out.push((l, i, d));
                }
                None => seen.push((variant, shown)),
            }
        }
    }
    out
}

/// The servers a library of a folder targeting `servers` runs on: those
/// with functions (Redis 7.0 and newer, every Valkey), `None` when the
/// folder targets none of them.
pub fn library_servers(servers: crate::servers::Servers) -> Option<crate::servers::Servers> {
    let without = crate::servers::Servers::parse(["redis-6.2"])
        .map(|s| s.mask())
        .unwrap_or(0);
    let left = servers.mask() & !without;
    (left != 0).then(|| crate::servers::Servers::from_mask(left))
}

/// One script of a folder through [`check_folder`].
pub struct Analyzed {
    /// The file as read.
    pub file: LuaFile,
    /// Its variant name (UpperCamelCase of its stem).
    pub variant: String,
    /// What the analysis found. Its typed call (`fn_name`, `signature`) is
    /// dropped when another script of the folder has the same function.
    pub analysis: FileAnalysis,
}

/// A script folder through the one pipeline: its scripts, and every
/// problem found in it.
pub struct FolderCheck {
    /// The scripts, in file-name order. Of files that map to one variant,
    /// only the first is here (the clash is the error, and uses of the
    /// variant get no follow-on error).
    pub scripts: Vec<Analyzed>,
    /// The errors, in the order they were found, each once.
    pub errors: Vec<Diagnostic>,
    /// The warnings (the lint's, and files that are not scripts because
    /// of their extension's case), each once.
    pub warnings: Vec<Diagnostic>,
}

/// Checks every top-level script of `folder`: list, names, name clashes,
/// read, analyse ([`analyze`]), typed-call clashes, functions two
/// libraries register ([`function_clashes`]); a problem reported
/// twice (a snippet's, reached from two scripts) is kept once, with the
/// first include chain.
pub fn check_folder(folder: &Folder) -> FolderCheck {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let files = folder::list(folder, &mut errors);
    warnings.extend(folder::other_case_scripts(folder));
    if files.is_empty() && errors.is_empty() {
        errors.push(Diagnostic::file(
            &folder.written,
            format!(
                "the script folder `{}` has no `.lua` files at its top level; add one \
                 (subfolders, dotfiles and other files are not scripts)",
                folder.written
            ),
        ));
    }
    let mut named = Vec::new();
    for file in files {
        let stem = file.strip_suffix(".lua").unwrap_or(&file).to_owned();
        let shown = folder.show(&file);
        match naming::variant_name(&stem, &shown) {
            Ok(variant) => named.push((file, variant)),
            Err(NameError(e)) => errors.push(Diagnostic::file(shown, e)),
        }
    }
    let shown: Vec<(String, &str)> = named
        .iter()
        .map(|(f, v)| (folder.show(f), v.as_str()))
        .collect();
    let mut first_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (f, v) in &shown {
        first_of.entry(v).or_insert(f.as_str());
    }
    for message in naming::collisions(shown.iter().map(|(f, v)| (f.as_str(), *v))) {
        // The message names every file; the location is the first.
        let at = first_of
            .iter()
            .find(|(v, _)| message.contains(&format!("`{v}`")))
            .map_or(folder.written.as_str(), |(_, f)| *f);
        errors.push(Diagnostic::file(at, message));
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut scripts = Vec::new();
    for (file, variant) in &named {
        if kept.contains(&variant.as_str()) {
            continue;
        }
        kept.push(variant);
        let Some(lua_file) = folder::read(folder, file, &mut errors) else {
            continue;
        };
        let analysis = analyze(folder, &lua_file, &mut errors);
        warnings.extend(analysis.warnings.iter().cloned());
        scripts.push(Analyzed {
            file: lua_file,
            variant: variant.clone(),
            analysis,
        });
    }
    let fns: Vec<(String, String)> = scripts
        .iter()
        .filter_map(|s| Some((s.analysis.shown.clone(), s.analysis.fn_name.clone()?)))
        .collect();
    for (message, files) in naming::fn_collisions(fns.iter().map(|(f, n)| (f.as_str(), n.as_str())))
    {
        for s in &mut scripts {
            if files.contains(&s.analysis.shown) {
                s.analysis.fn_name = None;
                s.analysis.signature = None;
            }
        }
        let at = files.first().cloned().unwrap_or_default();
        errors.push(Diagnostic::file(at, message));
    }
    // A function two libraries register: an error at the later one's
    // registration, which is dropped from its library.
    let clashes = {
        let libraries: Vec<(&str, &LibraryAnalysis)> = scripts
            .iter()
            .filter_map(|s| Some((s.analysis.shown.as_str(), s.analysis.library.as_ref()?)))
            .collect();
        function_clashes(&libraries)
    };
    let mut dropped: Vec<(usize, usize)> = Vec::new();
    for (l, i, d) in clashes {
        errors.push(d);
        dropped.push((l, i));
    }
    for (l, library) in scripts
        .iter_mut()
        .filter_map(|s| s.analysis.library.as_mut())
        .enumerate()
    {
        let mut i = 0;
        library.functions.retain(|_| {
            i += 1;
            !dropped.contains(&(l, i - 1))
        });
    }
    diagnostic::dedup(&mut errors);
    diagnostic::dedup(&mut warnings);
    FolderCheck {
        scripts,
        errors,
        warnings,
    }
}

/// Where the token that starts at `line:column` (column in characters) of
/// `source` ends: its last line and the column just after it; `None` when
/// no token starts there.
fn token_end(
    source: &[u8],
    lexed: &crate::lex::Lexed,
    line: u32,
    column: u32,
) -> Option<(u32, u32)> {
    let first = lexed.tokens.partition_point(|t| t.line < line);
    let token = lexed.tokens[first..]
        .iter()
        .take_while(|t| t.line == line)
        .find(|t| lexed.column(source, line, t.start) == column)?;
    Some((
        token.end_line,
        lexed.column(source, token.end_line, token.end),
    ))
}

/// The servers' Lua 5.1 verdict on an expanded source, then the arity from
/// the tokens Lua reads; an error is the position and the message.
pub fn syntax_and_usage(source: &str) -> Result<Usage, ((u32, u32), String)> {
    let bytes = source.as_bytes();
    if let Err(e) = crate::check_syntax(bytes) {
        return Err((
            (e.line, e.column.unwrap_or(1)),
            format!("Lua 5.1 syntax error: {}", e.message),
        ));
    }
    let body = crate::lua_body(bytes).unwrap_or_default();
    let lexed = crate::lex::lex(body);
    crate::usage::usage(body, &lexed).map_err(|e| {
        (
            e.at,
            format!(
                "`{}[{}]`: literal indices above {} are not supported (a typed call takes one \
                 parameter per entry); index with a variable (`{0}[i]`), and the typed call \
                 takes a slice",
                e.table,
                e.written,
                crate::usage::MAX_LITERAL_INDEX,
            ),
        )
    })
}

/// A problem at `line:column` of `file` (as shown to the user), with the
/// line of `source` and a note.
fn diagnostic(
    file: &str,
    source: Option<&str>,
    line: usize,
    column: Option<usize>,
    message: String,
    note: Option<String>,
) -> Diagnostic {
    let line = u32::try_from(line).unwrap_or(u32::MAX);
    let column = column.and_then(|c| u32::try_from(c).ok());
    let mut d = Diagnostic::new(file, line, column, message);
    if let Some(source) = source {
        d = d.with_source(source.as_bytes());
    }
    if let Some(note) = note {
        d = d.with_note(note);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Arity;

    #[test]
    fn lint_findings_end_where_their_token_ends() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder {
            written: "lua/".to_owned(),
            abs: dir.path().to_owned(),
            relative_to: "here".to_owned(),
            config: Default::default(),
        };
        let text = "local s = 'é' return redis.call('GETT', KEYS[1])\n";
        let file = LuaFile {
            file: "a.lua".to_owned(),
            stem: "a".to_owned(),
            abs: dir.path().join("a.lua"),
            source: Some(text.to_owned()),
        };
        let mut errors = Vec::new();
        analyze(&folder, &file, &mut errors);
        let d = errors
            .iter()
            .find(|d| d.rule == Some("unknown-command"))
            .unwrap();
        // `'GETT'` is characters 33 to 38 (the `é` counts once).
        assert_eq!((d.line, d.column), (1, Some(33)), "{d}");
        assert_eq!((d.end_line, d.end_column), (Some(1), Some(39)), "{d}");
    }

    /// A `no-writes` function's writes are refused in the local functions
    /// its callback calls (directly or through one another) as in the
    /// callback; a helper only a writing function calls is left alone.
    #[test]
    fn no_writes_follows_the_callback_s_local_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder {
            written: "lua/".to_owned(),
            abs: dir.path().to_owned(),
            relative_to: "here".to_owned(),
            config: Default::default(),
        };
        let text = "#!lua name=lib
local function touch(k)
  redis.call('SET', k, 'seen')
end
local function read(k)
  touch(k)
  return redis.call('GET', k)
end
local function reset(k)
  redis.call('DEL', k)
end
redis.register_function{
  function_name = 'peek',
  flags = {'no-writes'},
  callback = function(keys) return read(keys[1]) end,
}
redis.register_function('clear', function(keys) reset(keys[1]) return 1 end)
";
        let file = LuaFile {
            file: "lib.lua".to_owned(),
            stem: "lib".to_owned(),
            abs: dir.path().join("lib.lua"),
            source: Some(text.to_owned()),
        };
        let mut errors = Vec::new();
        let analysis = analyze(&folder, &file, &mut errors);
        let found: Vec<(u32, &str)> = errors
            .iter()
            .filter(|d| d.rule == Some("write-in-no-writes"))
            .map(|d| (d.line, d.message.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{errors:?}");
        assert_eq!(found[0].0, 3, "the SET in `touch`: {errors:?}");
        assert!(
            found[0]
                .1
                .contains("`peek` is registered with the flag `no-writes` and calls `touch`"),
            "{}",
            found[0].1
        );
        let library = analysis.library.unwrap();
        let helpers: Vec<&str> = library.functions[0]
            .function
            .helpers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(helpers, ["read", "touch"]);
    }

    /// Versioned mode through the folder pipeline, with a snippet included
    /// above the registrations: the version is that of the expanded
    /// source, the names are rewritten where the registrations are in it,
    /// and the lines stay; in replace mode nothing changes.
    #[test]
    fn versioned_libraries_get_their_names_on_the_server() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(
            dir.path().join("lib/util.lua"),
            "local function twice(n)\n  return n * 2\nend\n",
        )
        .unwrap();
        let text = "#!lua name=counters\n-- @include \"lib/util.lua\"\n\
                    redis.register_function('bump', function(keys, args)\n\
                    \x20 return redis.call('INCRBY', keys[1], twice(args[1]))\nend)\n\
                    redis.register_function{function_name = [[peek]], callback = function(k)\n\
                    \x20 return redis.call('GET', k[1])\nend, flags = {'no-writes'}}\n";
        std::fs::write(dir.path().join("counters.lua"), text).unwrap();
        let mut folder = Folder {
            written: "lua/".to_owned(),
            abs: dir.path().to_owned(),
            relative_to: "here".to_owned(),
            config: Default::default(),
        };
        let replace = check_folder(&folder);
        assert!(replace.errors.is_empty(), "{:?}", replace.errors);
        let l = replace.scripts[0].analysis.library.clone().unwrap();
        assert_eq!(
            (l.server_name.as_str(), l.version.as_deref()),
            ("counters", None)
        );
        assert_eq!(l.code, replace.scripts[0].analysis.expanded.source);
        assert_eq!(l.functions[0].server_name, "bump");

        folder.config.functions = FunctionsMode::Versioned;
        let versioned = check_folder(&folder);
        assert!(versioned.errors.is_empty(), "{:?}", versioned.errors);
        let a = &versioned.scripts[0].analysis;
        let expanded = &a.expanded.source;
        assert!(expanded.contains("local function twice"), "{expanded}");
        let l = a.library.clone().unwrap();
        let v = crate::version::version_of(expanded);
        assert_eq!(l.version.as_deref(), Some(v.as_str()));
        assert_eq!(l.server_name, format!("counters_v{v}"));
        let names: Vec<&str> = l.functions.iter().map(|f| f.server_name.as_str()).collect();
        assert_eq!(names, [format!("bump_v{v}"), format!("peek_v{v}")]);
        let want = expanded
            .replacen("name=counters", &format!("name=counters_v{v}"), 1)
            .replacen("'bump'", &format!("'bump_v{v}'"), 1)
            .replacen("[[peek]]", &format!("[[peek_v{v}]]"), 1);
        assert_eq!(l.code, want);
        assert_eq!(l.code.lines().count(), expanded.lines().count());
        // The code sent is a library the reader accepts, with the new names.
        let (fs, problems) = crate::library::functions(&l.code);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            fs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            names
        );
        assert_eq!(
            crate::library::library_name(l.code.as_bytes()),
            Some(Ok(l.server_name.clone()))
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let pos = |src: &str| syntax_and_usage(src).unwrap_err().0;
        assert_eq!(pos("local x = 1\nif x then\n  return x\n"), (2, 1)); // the unclosed `if`
        assert_eq!(pos("if x then\n  return )\nend"), (2, 10));
        assert_eq!(pos("#!lua flags=no-writes\nreturn )"), (2, 8));
        assert!(syntax_and_usage("goto done\n::done::").is_err());
        assert!(syntax_and_usage("return 7 // 2").is_err());
        assert!(syntax_and_usage("return 1 & 2").is_err());
        assert!(syntax_and_usage("").is_ok());
        let (_, message) = syntax_and_usage("return KEYS[20000]").unwrap_err();
        assert!(message.contains("`KEYS[20000]`"), "{message}");
        // A bare CR ends a comment: the SET below is code, and counted.
        let u = syntax_and_usage("-- note\rreturn redis.call('SET', KEYS[2], 'x')").unwrap();
        assert_eq!(u.keys, Arity::Exact(2));
    }
}
