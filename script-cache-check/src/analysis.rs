//! One script file from text to what the macros and the command line both
//! need: its shebang flags, its source with the includes expanded, the
//! servers' Lua 5.1 verdict and the `KEYS`/`ARGV` arity, its header, and
//! the name and parameters of its typed call; every problem rendered by
//! [`Diagnostic`], in one order, at the file (script or snippet) that has it.

use crate::Diagnostic;
use crate::folder::{self, Folder, LuaFile};
use crate::header::{self, Header};
use crate::include::{self, Expanded};
use crate::lint::Severity;
use crate::naming::{self, NameError};
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
    /// The lint's warnings, rendered (its errors go with the others).
    pub warnings: Vec<String>,
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
    /// Its functions, in registration order (those with problems too).
    pub functions: Vec<FunctionAnalysis>,
}

/// One registered function of a library.
#[derive(Clone)]
pub struct FunctionAnalysis {
    /// What its registration says.
    pub function: crate::library::Function,
    /// The tags of the comment block above its registration.
    pub header: Header,
    /// Its typed call's function name, when it had no problem.
    pub fn_name: Option<String>,
    /// Its typed call's parameters, when its name and header were fine.
    pub signature: Option<Signature>,
    /// Its registration, located in the files (the library or a snippet
    /// it includes), as a message there reads: `--> lua/x.lua:3:1`, the
    /// line and a caret, with `{}` where the message goes.
    pub located: String,
}

/// Analyzes one file of `folder`, pushing every problem to `errors`:
/// shebang, includes, Lua syntax and arity, header, then (only when none of
/// those had a problem) the typed call's name and the header against the
/// body. A file whose text could not be read is analyzed as empty and
/// reports nothing of its own (reading it reported why).
pub fn analyze(folder: &Folder, file: &LuaFile, errors: &mut Vec<String>) -> FileAnalysis {
    let shown = folder.show(&file.file);
    let errors_before = errors.len();
    let original = file.source.clone().unwrap_or_default();
    let in_script = |line: usize, column: Option<usize>, message: &str| {
        diagnostic(&shown, Some(&original), line, column, message, None)
    };
    let at_script = |line: usize, column: Option<usize>, message: &str| {
        in_script(line, column, message).to_string()
    };
    let library_name = match crate::library::library_name(original.as_bytes()) {
        None => None,
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => {
            errors.push(at_script(1, usize::try_from(e.column).ok(), &e.message));
            Some(String::new())
        }
    };
    let flags = match &library_name {
        Some(_) => Vec::new(),
        None => match crate::shebang::parse(original.as_bytes()) {
            Ok(shebang) => shebang.map(|s| s.flags).unwrap_or_default(),
            Err(e) => {
                errors.push(at_script(1, usize::try_from(e.column).ok(), &e.message));
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
        errors.push(render(
            &folder.show(&p.file),
            source.as_deref(),
            p.line,
            Some(p.column),
            &p.message,
            None,
        ));
    }
    // A message about `line:col` of the expanded source, located in the
    // original file, with the include chain when that is a snippet.
    let locate = |(line, column): (u32, u32), message: &str| {
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
                errors.push(locate(at, &message).to_string());
            }
            None
        }
    };
    if let Some(name) = library_name {
        let servers = library_servers(folder.config.servers);
        if servers.is_none() {
            errors.push(at_script(
                1,
                Some(1),
                "a function library needs Redis 7.0 or newer (or Valkey), and the folder's \
                 `script-cache.toml` targets only redis-6.2: add a newer server to its \
                 `servers`, or make the file a script (remove `name=`)",
            ));
        }
        let mut functions = Vec::new();
        let mut warnings = Vec::new();
        if usage.is_some() && file.source.is_some() {
            let (found, problems) = crate::library::functions(&expanded.source);
            for p in problems {
                errors.push(locate((p.line, p.column), &p.message).to_string());
            }
            for function in found {
                let (head, problems) = header::parse(&function.comments);
                let mut fine = problems.is_empty();
                for p in problems {
                    let line = u32::try_from(p.line).unwrap_or(u32::MAX);
                    let column = u32::try_from(p.column).unwrap_or(1);
                    errors.push(locate((line, column), &p.message).to_string());
                }
                let fn_name = match naming::fn_name(&function.name, &shown) {
                    Ok(n) => Some(n),
                    Err(NameError(e)) => {
                        errors.push(e);
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
                                errors.push(locate(at, &message).to_string());
                            }
                        }
                    }
                }
                let located = locate((function.line, function.column), "{}").to_string();
                functions.push(FunctionAnalysis {
                    located,
                    function,
                    header: head,
                    fn_name,
                    signature,
                });
            }
            let read_only: Vec<(&str, (u32, u32))> = functions
                .iter()
                .filter(|f| f.function.read_only())
                .map(|f| (f.function.name.as_str(), f.function.body_lines))
                .collect();
            if let (Some(servers), false) = (servers, read_only.is_empty()) {
                for finding in crate::lint::library_writes_for(&expanded.source, servers) {
                    let Some((name, _)) = read_only
                        .iter()
                        .find(|(_, (first, last))| (*first..=*last).contains(&finding.line))
                    else {
                        continue;
                    };
                    let mut finding = finding;
                    finding.message = finding
                        .message
                        .replace(
                            "the script declares `flags=no-writes`",
                            &format!(
                                "the function `{name}` is registered with the flag `no-writes`"
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
                    errors.push(
                        locate((finding.line, finding.column), &finding.titled())
                            .with_help(finding.help)
                            .to_string(),
                    );
                }
            }
            if let Some(servers) = servers {
                for finding in crate::lint::lint_library_for(&expanded.source, servers) {
                    let severity = finding.severity();
                    let rendered = locate((finding.line, finding.column), &finding.titled())
                        .with_help(finding.help)
                        .to_string();
                    match severity {
                        Severity::Error => errors.push(rendered),
                        Severity::Warning => warnings.push(rendered),
                    }
                }
            }
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
            library: Some(LibraryAnalysis { name, functions }),
        };
    }
    let (head, problems) = header::parse(&original);
    for p in problems {
        errors.push(at_script(p.line, Some(p.column), &p.message));
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
                                At::Header(line) => at_script(line, None, &p.message),
                                At::Body(at) => locate(at, &p.message).to_string(),
                            });
                        }
                    }
                }
            }
            Err(NameError(e)) => errors.push(e),
        }
    }
    // The lint, once Lua accepted the source (its errors do not stop the
    // typed call from being generated: no cascade at its uses).
    let mut warnings = Vec::new();
    if usage.is_some() && file.source.is_some() {
        for finding in crate::lint::lint_for(&expanded.source, &flags, folder.config.servers) {
            let severity = finding.severity();
            let rendered = locate((finding.line, finding.column), &finding.titled())
                .with_help(finding.help)
                .to_string();
            match severity {
                Severity::Error => errors.push(rendered),
                Severity::Warning => warnings.push(rendered),
            }
        }
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

/// The functions that two libraries of a folder register under one name
/// (or under names with one variant of `Functions`, `bump` and `Bump`):
/// for each later one, its library's index in `libraries` (each given as
/// the file shown and its analysis), its index there, and the message at
/// its registration. The server refuses the second library ("Function
/// already exists"); the macros and the command line say it the same way.
pub fn function_clashes(libraries: &[(&str, &LibraryAnalysis)]) -> Vec<(usize, usize, String)> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut out = Vec::new();
    for (l, (shown, library)) in libraries.iter().enumerate() {
        for (i, f) in library.functions.iter().enumerate() {
            let name = &f.function.name;
            let variant = naming::variant_name(name, shown).unwrap_or_else(|_| name.clone());
            match seen.iter().find(|(v, _)| *v == variant) {
                Some((_, first)) => {
                    let message = format!(
                        "the function `{name}` is also registered by `{first}`: a server has \
                         one function of each name (it refuses the second library: \"Function \
                         {name} already exists\"), and `Functions` one variant `{variant}`; \
                         rename one of them"
                    );
                    out.push((l, i, f.located.replacen("{}", &message, 1)));
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

/// A problem at `line:column` of `file` (as shown to the user), rendered
/// by the one renderer, [`Diagnostic`]: the message, `--> file:line:col`,
/// the line of `source` and a caret, and a note.
pub fn render(
    file: &str,
    source: Option<&str>,
    line: usize,
    column: Option<usize>,
    message: &str,
    note: Option<String>,
) -> String {
    diagnostic(file, source, line, column, message, note).to_string()
}

/// The [`Diagnostic`] behind [`render`].
fn diagnostic(
    file: &str,
    source: Option<&str>,
    line: usize,
    column: Option<usize>,
    message: &str,
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
