//! Analysis: one script file from text to an [`Entry`] (shebang, includes,
//! header, Lua verdict, arity, typed call), and the checks across scripts.

use syn::Ident;

use crate::lua;
use script_cache_check::Diagnostic;
use script_cache_check::analysis::{FileAnalysis, FunctionAnalysis};
use script_cache_check::folder::{Folder, LuaFile};
use script_cache_check::header::{self, Returns};
use script_cache_check::include::{self, Expanded};
use script_cache_check::naming;
use script_cache_check::signature::{Parameter, Signature};

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
    /// Absolute paths of the included files and of the folder's
    /// `script-cache.toml`, for `include_bytes!` (editing one rebuilds).
    pub(super) included: Vec<std::path::PathBuf>,
    pub(super) flags: Vec<String>,
    pub(super) usage: lua::Usage,
    pub(super) doc: Vec<String>,
    /// The typed call function, unless the header or body had problems.
    pub(super) typed: Option<Typed>,
    /// The lint's warnings; emitted as compiler warnings.
    pub(super) warnings: Vec<Diagnostic>,
    /// The library, when the file is a function library (`#!lua
    /// name=<library>`): it is then no variant of the script enum.
    pub(super) library: Option<Library>,
}

/// A function library of the folder.
pub(super) struct Library {
    /// Its name (`#!lua name=<library>`).
    pub(super) name: String,
    /// Its name on the server (versioned mode: `<name>_v<version>`).
    pub(super) server_name: String,
    /// The code sent with `FUNCTION LOAD` (versioned mode: with the names
    /// on the server written in).
    pub(super) code: String,
    pub(super) functions: Vec<Function>,
}

/// One function a library registers.
pub(super) struct Function {
    /// Its name as registered in the file.
    pub(super) name: String,
    /// Its name on the server, as `FCALL` takes it.
    pub(super) server_name: String,
    /// Its variant of the `Functions` enum.
    pub(super) variant: Ident,
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
/// those functions (the variants stay): for `#[derive(Scripts)]`, whose
/// files are not read through the folder pipeline.
pub(super) fn typed_collisions(entries: &mut [Entry]) -> Vec<Diagnostic> {
    let names: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| {
            let t = e.typed.as_ref()?;
            Some((e.file_shown.clone(), t.name.to_string()))
        })
        .collect();
    let clashes = naming::fn_collisions(names.iter().map(|(f, n)| (f.as_str(), n.as_str())));
    let mut found = Vec::new();
    for (message, files) in clashes {
        for e in entries.iter_mut() {
            if files.contains(&e.file_shown) {
                e.typed = None;
            }
        }
        found.push(Diagnostic::file(
            files.first().cloned().unwrap_or_default(),
            message,
        ));
    }
    found
}

/// The entry of one analysed file (`script_cache_check::analysis`, which
/// the command line runs too): the typed call's names as Rust identifiers
/// (or the problems with them, pushed to `errors`).
pub(super) fn entry(
    folder: &Folder,
    file: LuaFile,
    variant: Ident,
    analysis: FileAnalysis,
    errors: &mut Vec<String>,
) -> Entry {
    let FileAnalysis {
        shown,
        original,
        flags,
        expanded,
        usage,
        header,
        fn_name,
        signature,
        warnings,
        library,
    } = analysis;
    let library = library.map(|l| Library {
        functions: l
            .functions
            .into_iter()
            .filter_map(|f| function(&shown, f, errors))
            .collect(),
        name: l.name,
        server_name: l.server_name,
        code: l.code,
    });
    let typed = match (fn_name, signature) {
        (Some(name), Some(sig)) => typed(&shown, &name, sig, &header, errors),
        _ => None,
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
        // The folder's script-cache.toml is tracked like a snippet: editing
        // it rebuilds.
        included: included
            .iter()
            .map(|rel| folder.abs.join(rel))
            .chain(folder.config.file.clone())
            .collect(),
        file,
        source,
        spans,
        flags,
        usage: usage.unwrap_or_default(),
        typed,
        warnings,
        library,
    }
}

/// A function of a library, with its variant and typed call; `None` when
/// its name is no Rust identifier (reported).
fn function(shown: &str, f: FunctionAnalysis, errors: &mut Vec<String>) -> Option<Function> {
    let variant = match naming::variant_name(&f.function.name, shown) {
        Ok(v) => syn::parse_str::<Ident>(&v).ok(),
        Err(naming::NameError(e)) => {
            errors.push(e);
            None
        }
    }?;
    let typed = match (f.fn_name, f.signature) {
        (Some(name), Some(sig)) => typed(shown, &name, sig, &f.header, errors),
        _ => None,
    };
    Some(Function {
        name: f.function.name.clone(),
        server_name: f.server_name,
        variant,
        flags: f.function.flags.clone(),
        usage: f.function.usage.clone(),
        doc: lua::header_doc(&f.function.comments),
        typed,
    })
}

/// The typed call of a script whose name and header were accepted, with
/// its names as Rust identifiers (or the problems with them).
fn typed(
    shown: &str,
    name: &str,
    sig: Signature,
    head: &header::Header,
    errors: &mut Vec<String>,
) -> Option<Typed> {
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
    let name = ident(name);
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
