//! Analysis: one script file from text to an [`Entry`] (shebang, includes,
//! header, Lua verdict, arity, typed call), and the checks across scripts.

use script_cache_check::Diagnostic;
use syn::Ident;

use crate::lua;
use script_cache_check::folder::{self as scan, Folder, LuaFile};
use script_cache_check::header::{self, Returns};
use script_cache_check::include::{self, Expanded};
use script_cache_check::naming;
use script_cache_check::signature::{self, At, Parameter};

/// One script, ready to be emitted.
pub(super) struct Entry {
    pub(super) variant: Ident,
    /// The file as shown in messages and docs, e.g. `lua/a.lua`.
    pub(super) file_shown: String,
    pub(super) file: LuaFile,
    /// The source with its includes expanded: what is hashed and sent.
    pub(super) source: String,
    /// Where the lines of `source` come from; empty without includes.
    pub(super) spans: Vec<include::Span>,
    /// Absolute paths of the included files, for `include_bytes!`.
    pub(super) included: Vec<std::path::PathBuf>,
    pub(super) flags: Vec<String>,
    pub(super) usage: lua::Usage,
    pub(super) doc: Vec<String>,
    /// The typed call function, unless the header or body had problems.
    pub(super) typed: Option<Typed>,
}

/// The typed call function of one script.
pub(super) struct Typed {
    pub(super) name: Ident,
    pub(super) keys: Vec<(Ident, Parameter)>,
    pub(super) args: Vec<(Ident, Parameter)>,
    pub(super) returns: Option<Returns>,
}

/// Reports typed call functions that two scripts would share, and drops
/// those functions (the variants stay).
pub(super) fn typed_collisions(entries: &mut [Entry]) -> Vec<String> {
    let names: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| {
            let t = e.typed.as_ref()?;
            Some((e.file_shown.clone(), t.name.to_string()))
        })
        .collect();
    let clashes = naming::fn_collisions(names.iter().map(|(f, n)| (f.as_str(), n.as_str())));
    let mut messages = Vec::new();
    for (message, files) in clashes {
        for e in entries.iter_mut() {
            if files.contains(&e.file_shown) {
                e.typed = None;
            }
        }
        messages.push(message);
    }
    messages
}

/// Shebang, includes, header, syntax, arity and typed call of one file.
pub(super) fn analyze(
    folder: &Folder,
    file: LuaFile,
    variant: Ident,
    errors: &mut Vec<String>,
) -> Entry {
    let shown = folder.show(&file.file);
    let errors_before = errors.len();
    let original = file.source.clone().unwrap_or_default();
    // One renderer for every problem with a place in a file.
    let at_script = |line: usize, column: Option<usize>, message: &str| {
        render(&shown, Some(&original), line, column, message, None)
    };
    let flags = match lua::shebang(original.as_bytes()) {
        Ok(shebang) => shebang.map(|s| s.flags).unwrap_or_default(),
        Err(e) => {
            errors.push(at_script(1, usize::try_from(e.column).ok(), &e.message));
            Vec::new()
        }
    };
    let (expanded, problems) = include::expand(&file.file, &original, &mut |rel| {
        scan::read_snippet(folder, rel)
    });
    for p in problems {
        let source = if p.file == file.file {
            Some(original.clone())
        } else {
            scan::read_snippet(folder, &p.file).ok()
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
    let locate = |(line, column): lua::Position, message: &str| {
        let line_in_expanded = usize::try_from(line).unwrap_or(usize::MAX);
        let column = usize::try_from(column).ok();
        match expanded.locate(line_in_expanded) {
            Some((f, l)) if f != file.file => render(
                &folder.show(f),
                scan::read_snippet(folder, f).ok().as_deref(),
                l,
                column,
                message,
                Some(format!(
                    "in a snippet, included as {}",
                    expanded.chain(f).unwrap_or_default()
                )),
            ),
            Some((_, l)) => at_script(l, column, message),
            None => at_script(line_in_expanded, column, message),
        }
    };
    let mut parsed = true;
    let usage = match lua::analyze(&expanded.source) {
        Ok(usage) => usage,
        Err(e) => {
            parsed = false;
            if file.source.is_some() {
                errors.push(locate((e.line, e.column), &e.message));
            }
            lua::Usage::default()
        }
    };
    let (head, problems) = header::parse(&original);
    for p in problems {
        errors.push(at_script(p.line, Some(p.column), &p.message));
    }
    let typed = if parsed && file.source.is_some() && errors.len() == errors_before {
        typed(&file, &shown, &head, &usage, &locate, &at_script, errors)
    } else {
        None
    };
    let Expanded {
        source,
        spans,
        included,
        ..
    } = expanded;
    Entry {
        variant,
        file_shown: shown,
        doc: lua::header_doc(&original),
        included: included.iter().map(|rel| folder.abs.join(rel)).collect(),
        file,
        source,
        spans,
        flags,
        usage,
        typed,
    }
}

/// A problem at `line:column` of `file` (as shown to the user), rendered
/// by the one renderer, `script_cache_check::Diagnostic`: the message,
/// `--> file:line:col`, the line of `source` and a caret, and a note.
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

/// The typed call of a script whose text is fine: its name and parameters,
/// or the problems with them.
pub(super) fn typed(
    file: &LuaFile,
    shown: &str,
    head: &header::Header,
    usage: &lua::Usage,
    locate: &dyn Fn(lua::Position, &str) -> String,
    at_script: &dyn Fn(usize, Option<usize>, &str) -> String,
    errors: &mut Vec<String>,
) -> Option<Typed> {
    let name = match naming::fn_name(&file.stem, shown) {
        Ok(name) => name,
        Err(naming::NameError(e)) => {
            errors.push(e);
            return None;
        }
    };
    let sig = match signature::signature(head, usage) {
        Ok(sig) => sig,
        Err(problems) => {
            for p in problems {
                errors.push(match p.at {
                    At::Header(line) => at_script(line, None, &p.message),
                    At::Body(at) => locate(at, &p.message),
                });
            }
            return None;
        }
    };
    let mut ok = true;
    let mut ident = |text: &str| match syn::parse_str::<Ident>(text) {
        Ok(ident) => Some(ident),
        Err(_) => {
            errors.push(format!(
                "{shown}: `{text}` is not a Rust identifier; rename it (file or `@key`/`@arg`)"
            ));
            ok = false;
            None
        }
    };
    let name = ident(&name);
    let mut params = |ps: Vec<Parameter>| -> Vec<(Ident, Parameter)> {
        ps.into_iter()
            .filter_map(|p| Some((ident(&p.ident)?, p)))
            .collect()
    };
    let keys = params(sig.keys);
    let args = params(sig.args);
    let name = name?;
    ok.then(|| Typed {
        name,
        keys,
        args,
        returns: head.returns.clone(),
    })
}
