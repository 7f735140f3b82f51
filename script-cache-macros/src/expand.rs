//! Turning macro input into the enum and its impls.
//!
//! Every problem becomes a `syn::Error` spanned on the folder literal (or
//! the variant, for `#[derive(Scripts)]`); all of them are collected and
//! emitted together, next to an enum with the scripts that are fine, so one
//! bad file does not cascade into errors at every use of the enum.

use std::collections::BTreeMap;
use std::path::Path;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Token};

use crate::header::{self, Returns};
use crate::include::{self, Expanded};
use crate::lua::{self, Arity};
use crate::naming;
use crate::scan::{self, Folder, LuaFile};
use crate::signature::{self, At, Parameter};

/// Collects errors; see the module docs. A problem in a snippet that
/// several scripts include is reported once, with the first include chain.
#[derive(Default)]
struct Errors {
    all: Option<syn::Error>,
    seen: std::collections::BTreeSet<String>,
}

/// A message without its include chain: the same problem in a snippet
/// reached from several scripts has one key.
fn dedupe_key(message: &str) -> String {
    let mut key = message.to_owned();
    for marker in [" (in a snippet, included as ", " (include chain: "] {
        while let Some(at) = key.find(marker) {
            let end = key[at..].find(')').map_or(key.len(), |e| at + e + 1);
            key.replace_range(at..end, "");
        }
    }
    key
}

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let message = message.to_string();
        if !self.seen.insert(dedupe_key(&message)) {
            return;
        }
        self.add(syn::Error::new(span, message));
    }

    fn add(&mut self, e: syn::Error) {
        match &mut self.all {
            Some(all) => all.combine(e),
            None => self.all = Some(e),
        }
    }

    fn into_tokens(self) -> TokenStream {
        self.all.map(|e| e.to_compile_error()).unwrap_or_default()
    }
}

/// One script, ready to be emitted.
struct Entry {
    variant: Ident,
    /// The file as shown in messages and docs, e.g. `lua/a.lua`.
    file_shown: String,
    file: LuaFile,
    /// The source with its includes expanded: what is hashed and sent.
    source: String,
    /// Where the lines of `source` come from; empty without includes.
    spans: Vec<include::Span>,
    /// Absolute paths of the included files, for `include_bytes!`.
    included: Vec<std::path::PathBuf>,
    flags: Vec<String>,
    usage: lua::Usage,
    doc: Vec<String>,
    /// The typed call function, unless the header or body had problems.
    typed: Option<Typed>,
}

/// The typed call function of one script.
struct Typed {
    name: Ident,
    keys: Vec<(Ident, Parameter)>,
    args: Vec<(Ident, Parameter)>,
    returns: Option<Returns>,
}

/// `include_scripts!("lua/")`.
pub(crate) fn include_scripts(input: TokenStream, manifest_dir: Option<&Path>) -> TokenStream {
    let lit: LitStr = match syn::parse2(input) {
        Ok(lit) => lit,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                "expected the script folder as a string, e.g. `include_scripts!(\"lua/\")`",
            )
            .to_compile_error();
        }
    };
    let mut errors = Errors::default();
    let entries = folder_entries(&lit, manifest_dir, &mut errors);
    let doc = format!(
        " The Lua scripts embedded from `{}`, one variant per file.",
        lit.value()
    );
    let attrs: Vec<Attribute> = vec![syn::parse_quote!(#[doc = #doc])];
    let ident = Ident::new("Scripts", Span::call_site());
    let vis: syn::Visibility = syn::parse_quote!(pub);
    let mut out = emit_enum(&attrs, &vis, &ident, &entries, derives(&[]));
    out.extend(emit_impls(&ident, &vis, &entries, None));
    out.extend(errors.into_tokens());
    out
}

/// `#[scripts(dir = "lua/")] enum Name {}`.
pub(crate) fn attribute(
    attr: TokenStream,
    item: TokenStream,
    manifest_dir: Option<&Path>,
) -> TokenStream {
    let mut errors = Errors::default();
    let input: DeriveInput = match syn::parse2(item.clone()) {
        Ok(input) => input,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let data = match &input.data {
        Data::Enum(data) => data,
        _ => {
            let mut out = syn::Error::new(
                input.ident.span(),
                "`#[scripts]` goes on an empty enum: `enum Scripts {}`",
            )
            .to_compile_error();
            out.extend(item);
            return out;
        }
    };
    if !data.variants.is_empty() {
        errors.push(
            data.variants.span(),
            "`#[scripts(dir = ..)]` fills the enum with one variant per file: remove these \
             variants (`enum Name {}`), or list the variants yourself with \
             `#[derive(Scripts)]` and `#[scripts(dir = ..)]`",
        );
    }
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.push(
            input.generics.span(),
            "a script enum cannot have generic parameters; remove them",
        );
    }
    let dir = match parse_dir(attr, "#[scripts(dir = \"lua/\")]") {
        Ok(dir) => Some(dir),
        Err(e) => {
            errors.add(e);
            None
        }
    };
    let entries = match &dir {
        Some(dir) => folder_entries(dir, manifest_dir, &mut errors),
        None => Vec::new(),
    };
    let present = derived(&input.attrs);
    let mut out = emit_enum(
        &input.attrs,
        &input.vis,
        &input.ident,
        &entries,
        derives(&present),
    );
    out.extend(emit_impls(&input.ident, &input.vis, &entries, None));
    out.extend(errors.into_tokens());
    out
}

/// `#[derive(Scripts)] #[scripts(dir = "lua/")] enum Name { A, #[script(file = "x.lua")] B }`.
pub(crate) fn derive(input: TokenStream, manifest_dir: Option<&Path>) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let Data::Enum(data) = &input.data else {
        return syn::Error::new(
            input.ident.span(),
            "`#[derive(Scripts)]` works on enums whose unit variants name script files",
        )
        .to_compile_error();
    };
    let mut errors = Errors::default();
    let generic = !input.generics.params.is_empty() || input.generics.where_clause.is_some();
    if generic {
        errors.push(
            input.generics.span(),
            "a script enum cannot have generic parameters; remove them",
        );
    }
    let mut dir = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("scripts")) {
        match attr.parse_args_with(|p: syn::parse::ParseStream<'_>| {
            parse_dir(p.parse::<TokenStream>()?, "#[scripts(dir = \"lua/\")]")
        }) {
            Ok(lit) if dir.is_none() => dir = Some(lit),
            Ok(lit) => errors.push(lit.span(), "`dir` is given twice; keep one"),
            Err(e) => errors.add(e),
        }
    }
    let Some(dir) = dir else {
        errors.push(
            input.ident.span(),
            "`#[derive(Scripts)]` needs the script folder: add `#[scripts(dir = \"lua/\")]` \
             (relative to the crate's manifest directory)",
        );
        let all: Vec<Ident> = data.variants.iter().map(|v| v.ident.clone()).collect();
        let mut out = fallback_impls(
            &input,
            generic,
            |all_of| emit_impls(&input.ident, &input.vis, &[], Some(all_of)),
            &all,
        );
        out.extend(errors.into_tokens());
        return out;
    };
    let folder = match resolve(&dir, manifest_dir) {
        Ok(folder) => folder,
        Err(e) => {
            errors.add(e);
            let all: Vec<Ident> = data.variants.iter().map(|v| v.ident.clone()).collect();
            let mut out = fallback_impls(
                &input,
                generic,
                |all_of| emit_impls(&input.ident, &input.vis, &[], Some(all_of)),
                &all,
            );
            out.extend(errors.into_tokens());
            return out;
        }
    };
    // Top-level files by the variant they map to, listed only if needed.
    let mut by_variant: Option<BTreeMap<String, Vec<String>>> = None;
    let mut entries = Vec::new();
    let mut names: BTreeMap<String, Ident> = BTreeMap::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.push(
                variant.fields.span(),
                format!(
                    "script variants carry no data: write `{}` without fields",
                    variant.ident
                ),
            );
        }
        let mut file_attr = None;
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("script")) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("file") {
                    file_attr = Some(meta.value()?.parse::<LitStr>()?);
                    Ok(())
                } else {
                    Err(meta.error("unknown option; expected `#[script(file = \"name.lua\")]`"))
                }
            });
            if let Err(e) = parsed {
                errors.add(e);
            }
        }
        let span = match &file_attr {
            Some(lit) => lit.span(),
            None => variant.ident.span(),
        };
        let file = match &file_attr {
            Some(lit) => {
                let file = lit.value();
                if Path::new(&file).is_absolute() {
                    errors.push(
                        span,
                        format!(
                            "`{file}` is an absolute path; write it relative to the script \
                             folder `{}`",
                            folder.written
                        ),
                    );
                    continue;
                }
                file
            }
            None => {
                let map = by_variant.get_or_insert_with(|| {
                    let mut list_errors = Vec::new();
                    let files = scan::list(&folder, &mut list_errors);
                    for e in list_errors {
                        errors.push(dir.span(), e);
                    }
                    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for f in files {
                        let stem = f.strip_suffix(".lua").unwrap_or(&f);
                        if let Ok(v) = naming::variant_name(stem, &f) {
                            map.entry(v).or_default().push(f);
                        }
                    }
                    map
                });
                match map.get(&variant.ident.to_string()).map(Vec::as_slice) {
                    Some([file]) => file.clone(),
                    Some(files) if !files.is_empty() => {
                        errors.push(
                            span,
                            format!(
                                "variant `{}` matches several files: {}; pick one with \
                                 `#[script(file = \"...\")]` or rename the others",
                                variant.ident,
                                files
                                    .iter()
                                    .map(|f| format!("`{}`", folder.show(f)))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        continue;
                    }
                    _ => {
                        let v = variant.ident.to_string();
                        errors.push(
                            span,
                            format!(
                                "variant `{v}` has no script: expected `{}` (or another file \
                                 whose name maps to `{v}`); add the file, or name it with \
                                 `#[script(file = \"...\")]`",
                                folder.show(&format!("{}.lua", naming::suggested_stem(&v))),
                            ),
                        );
                        continue;
                    }
                }
            }
        };
        let mut file_errors = Vec::new();
        let Some(lua_file) = scan::read(&folder, &file, &mut file_errors) else {
            for e in file_errors {
                errors.push(span, e);
            }
            continue;
        };
        let entry = analyze(&folder, lua_file, variant.ident.clone(), &mut file_errors);
        for e in file_errors {
            errors.push(span, e);
        }
        if let Some(other) = names.get(&entry.file.stem) {
            errors.push(
                span,
                format!(
                    "variants `{other}` and `{}` both use a script named `{}`; names must be \
                     unique (`from_name`, `FromStr`): rename one of the files",
                    variant.ident, entry.file.stem
                ),
            );
        } else {
            names.insert(entry.file.stem.clone(), variant.ident.clone());
        }
        entries.push(entry);
    }
    for e in typed_collisions(&mut entries) {
        errors.push(input.ident.span(), e);
    }
    // Variants without an entry (a missing file, ...) still get their
    // impls, with `unreachable!()` bodies (thiserror's fallback), so the
    // errors above are the only ones: no E0599 at each use.
    let all: Vec<Ident> = data.variants.iter().map(|v| v.ident.clone()).collect();
    let mut out = fallback_impls(
        &input,
        generic,
        |all_of| emit_impls(&input.ident, &input.vis, &entries, Some(all_of)),
        &all,
    );
    out.extend(errors.into_tokens());
    out
}

/// Parses `dir = "lua/"`.
fn parse_dir(attr: TokenStream, example: &str) -> syn::Result<LitStr> {
    let mut dir = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("dir") {
            dir = Some(meta.value()?.parse::<LitStr>()?);
            Ok(())
        } else {
            Err(meta.error(format!("unknown option; expected `{example}`")))
        }
    });
    let span = attr.span();
    syn::parse::Parser::parse2(parser, attr)?;
    dir.ok_or_else(|| syn::Error::new(span, format!("the script folder is missing: `{example}`")))
}

fn resolve(lit: &LitStr, manifest_dir: Option<&Path>) -> syn::Result<Folder> {
    let Some(manifest_dir) = manifest_dir else {
        return Err(syn::Error::new(
            lit.span(),
            "CARGO_MANIFEST_DIR is not set; build with cargo",
        ));
    };
    scan::resolve(manifest_dir, &lit.value()).map_err(|e| syn::Error::new(lit.span(), e))
}

/// Every top-level script of the folder, for the folder-wide forms.
fn folder_entries(lit: &LitStr, manifest_dir: Option<&Path>, errors: &mut Errors) -> Vec<Entry> {
    let folder = match resolve(lit, manifest_dir) {
        Ok(folder) => folder,
        Err(e) => {
            errors.add(e);
            return Vec::new();
        }
    };
    let span = lit.span();
    let mut messages = Vec::new();
    let files = scan::list(&folder, &mut messages);
    if files.is_empty() && messages.is_empty() {
        messages.push(format!(
            "the script folder `{}` has no `.lua` files at its top level; add one \
             (subfolders, dotfiles and other files are not scripts)",
            folder.written
        ));
    }
    let mut named = Vec::new();
    for file in files {
        let stem = file.strip_suffix(".lua").unwrap_or(&file).to_owned();
        match naming::variant_name(&stem, &folder.show(&file)) {
            Ok(variant) => named.push((file, variant)),
            Err(naming::NameError(e)) => messages.push(e),
        }
    }
    let shown: Vec<(String, &str)> = named
        .iter()
        .map(|(f, v)| (folder.show(f), v.as_str()))
        .collect();
    let clashes = naming::collisions(shown.iter().map(|(f, v)| (f.as_str(), *v)));
    let mut clashing: Vec<String> = Vec::new();
    {
        let mut seen = BTreeMap::new();
        for (_, v) in &named {
            *seen.entry(v.clone()).or_insert(0) += 1;
        }
        clashing.extend(seen.into_iter().filter(|(_, n)| *n > 1).map(|(v, _)| v));
    }
    messages.extend(clashes);
    let mut entries = Vec::new();
    for (file, variant) in named {
        if clashing.contains(&variant) {
            continue;
        }
        let Some(lua_file) = scan::read(&folder, &file, &mut messages) else {
            continue;
        };
        match syn::parse_str::<Ident>(&variant) {
            Ok(ident) => entries.push(analyze(&folder, lua_file, ident, &mut messages)),
            Err(_) => messages.push(format!(
                "`{}` maps to `{variant}`, which is not an identifier; rename the file",
                folder.show(&file)
            )),
        }
    }
    messages.extend(typed_collisions(&mut entries));
    for m in messages {
        errors.push(span, m);
    }
    entries
}

/// Reports typed call functions that two scripts would share, and drops
/// those functions (the variants stay).
fn typed_collisions(entries: &mut [Entry]) -> Vec<String> {
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
fn analyze(folder: &Folder, file: LuaFile, variant: Ident, errors: &mut Vec<String>) -> Entry {
    let shown = folder.show(&file.file);
    let errors_before = errors.len();
    let original = file.source.clone().unwrap_or_default();
    let flags = match lua::shebang(original.as_bytes()) {
        Ok(shebang) => shebang.map(|s| s.flags).unwrap_or_default(),
        Err(e) => {
            errors.push(format!("{shown}:1:{}: {}", e.column, e.message));
            Vec::new()
        }
    };
    let (expanded, problems) = include::expand(&file.file, &original, &mut |rel| {
        scan::read_snippet(folder, rel)
    });
    for p in problems {
        errors.push(format!(
            "{}:{}:{}: {}",
            folder.show(&p.file),
            p.line,
            p.column,
            p.message
        ));
    }
    // A message about `line:col` of the expanded source, located in the
    // original file, with the include chain when that is a snippet.
    let locate = |(line, column): lua::Position, message: &str| match expanded
        .locate(usize::try_from(line).unwrap_or(usize::MAX))
    {
        Some((f, l)) if f != file.file => format!(
            "{}:{l}:{column}: {message} (in a snippet, included as {})",
            folder.show(f),
            expanded.chain(f).unwrap_or_default()
        ),
        Some((_, l)) => format!("{shown}:{l}:{column}: {message}"),
        None => format!("{shown}:{line}:{column}: {message}"),
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
        errors.push(format!("{shown}:{}:{}: {}", p.line, p.column, p.message));
    }
    let typed = if parsed && file.source.is_some() && errors.len() == errors_before {
        typed(&file, &shown, &head, &usage, &locate, errors)
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

/// The typed call of a script whose text is fine: its name and parameters,
/// or the problems with them.
fn typed(
    file: &LuaFile,
    shown: &str,
    head: &header::Header,
    usage: &lua::Usage,
    locate: &dyn Fn(lua::Position, &str) -> String,
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
                    At::Header(line) => format!("{shown}:{line}: {}", p.message),
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

const DERIVES: &[(&str, &str)] = &[
    ("Clone", "::core::clone::Clone"),
    ("Copy", "::core::marker::Copy"),
    ("Debug", "::core::fmt::Debug"),
    ("PartialEq", "::core::cmp::PartialEq"),
    ("Eq", "::core::cmp::Eq"),
    ("Hash", "::core::hash::Hash"),
];

/// Names (last path segment) of what `attrs` already derive.
fn derived(attrs: &[Attribute]) -> Vec<String> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        if let Ok(paths) =
            attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
        {
            out.extend(
                paths
                    .iter()
                    .filter_map(|p| p.segments.last().map(|s| s.ident.to_string())),
            );
        }
    }
    out
}

/// `#[derive(..)]` of the standard traits not already in `present`.
fn derives(present: &[String]) -> TokenStream {
    let missing: Vec<syn::Path> = DERIVES
        .iter()
        .filter(|(name, _)| !present.iter().any(|p| p == name))
        .filter_map(|(_, path)| syn::parse_str(path).ok())
        .collect();
    if missing.is_empty() {
        TokenStream::new()
    } else {
        quote!(#[derive(#(#missing),*)])
    }
}

fn emit_enum(
    attrs: &[Attribute],
    vis: &syn::Visibility,
    ident: &Ident,
    entries: &[Entry],
    derives: TokenStream,
) -> TokenStream {
    let variants = entries.iter().map(|e| {
        let docs = variant_docs(e);
        let v = &e.variant;
        quote!(#(#[doc = #docs])* #v)
    });
    quote! {
        #(#attrs)*
        #derives
        #vis enum #ident {
            #(#variants,)*
        }
    }
}

fn count(arity: Arity, what: &str) -> String {
    match arity {
        Arity::Exact(1) => format!("1 {what}"),
        Arity::Exact(n) => format!("{n} {what}s"),
        Arity::Variadic { min: 0 } => format!("any number of {what}s"),
        Arity::Variadic { min } => format!("{min} or more {what}s"),
    }
}

fn variant_docs(e: &Entry) -> Vec<String> {
    let mut docs: Vec<String> = e.doc.iter().map(|l| format!(" {l}")).collect();
    if !docs.is_empty() {
        docs.push(String::new());
    }
    let read_only = if e.flags.iter().any(|f| f == "no-writes") {
        ", read-only"
    } else {
        ""
    };
    docs.push(format!(
        " `{}`: {}, {}{read_only}. SHA-1 `{}`.",
        e.file_shown,
        count(e.usage.keys, "key"),
        count(e.usage.args, "arg"),
        sha1_hex(&e.source),
    ));
    docs
}

fn sha1_hex(source: &str) -> String {
    sha1_smol::Sha1::from(source.as_bytes())
        .digest()
        .to_string()
}

fn u32_lit(n: usize) -> Literal {
    Literal::u32_unsuffixed(u32::try_from(n).unwrap_or(u32::MAX))
}

fn arity_tokens(arity: Arity) -> TokenStream {
    match arity {
        Arity::Exact(n) => {
            let n = Literal::usize_unsuffixed(n);
            quote!(::script_cache::__private::Arity::Exact(#n))
        }
        Arity::Variadic { min } => {
            let min = Literal::usize_unsuffixed(min);
            quote!(::script_cache::__private::Arity::Variadic { min: #min })
        }
    }
}

/// The rustdoc of a typed call function.
fn typed_docs(e: &Entry, t: &Typed) -> Vec<String> {
    let mut docs: Vec<String> = e.doc.iter().map(|l| format!(" {l}")).collect();
    if !docs.is_empty() {
        docs.push(String::new());
    }
    let read_only = if e.flags.iter().any(|f| f == "no-writes") {
        " (read-only)"
    } else {
        ""
    };
    docs.push(format!(
        " Calls `{}`{read_only}: run the returned invocation with `invoke`, \
         `invoke_async` or in a pipeline.",
        e.file_shown
    ));
    let mut list = Vec::new();
    for (table, params) in [("KEYS", &t.keys), ("ARGV", &t.args)] {
        for (i, (_, p)) in params.iter().enumerate() {
            let at = if p.rest {
                format!("{table}[{}..]", i + 1)
            } else {
                format!("{table}[{}]", i + 1)
            };
            let doc = if p.doc.is_empty() {
                String::new()
            } else {
                format!(": {}", p.doc)
            };
            let all = if p.rest { ", any number" } else { "" };
            list.push(format!(" * `{}` (`{at}`{all}){doc}", p.name));
        }
    }
    if !list.is_empty() {
        docs.push(String::new());
        docs.push(" # Parameters".to_owned());
        docs.push(String::new());
        docs.extend(list);
    }
    docs.push(String::new());
    docs.push(" # Reply".to_owned());
    docs.push(String::new());
    match &t.returns {
        Some(r) => {
            let doc = if r.doc.is_empty() {
                String::new()
            } else {
                format!(": {}", r.doc)
            };
            docs.push(format!(
                " `{}` (`@return {}`){doc}. `invoke_as::<T>` converts to another type.",
                r.ty.rust(),
                r.written
            ));
        }
        None => docs.push(
            " The script's header has no `-- @return`, so the caller picks the type: \
             `invoke::<T>(..)` with any `FromRedisValue` type."
                .to_owned(),
        ),
    }
    docs
}

fn emit_typed(p: &TokenStream, vis: &syn::Visibility, e: &Entry, t: &Typed) -> TokenStream {
    let docs = typed_docs(e, t);
    let name = &t.name;
    let variant = &e.variant;
    let param = |(ident, param): &(Ident, Parameter)| {
        if param.rest {
            quote!(#ident: &[impl #p::ToRedisArgs])
        } else {
            quote!(#ident: impl #p::ToSingleRedisArg)
        }
    };
    let params = t.keys.iter().chain(&t.args).map(param);
    let keys = t.keys.iter().map(|(ident, _)| ident);
    let args = t.args.iter().map(|(ident, _)| ident);
    let invocation = quote! {
        #p::Invocation::of(<Self as #p::EmbeddedScript>::meta(Self::#variant))
            #(.key(#keys))*
            #(.arg(#args))*
    };
    let (ret, body) = match &t.returns {
        Some(r) => {
            let ty = r.ty.tokens();
            (
                quote!(#p::TypedInvocation<#ty>),
                quote!(#p::TypedInvocation::__new(#invocation)),
            )
        }
        None => (quote!(#p::Invocation), invocation),
    };
    quote! {
        #(#[doc = #docs])*
        #[must_use = "a script call does nothing until it is invoked"]
        #vis fn #name(#(#params),*) -> #ret {
            #body
        }
    }
}

/// The impls of a derive whose enum is usable (unit variants, no
/// generics), else nothing: `emit` gets every variant in declaration order.
fn fallback_impls(
    input: &DeriveInput,
    generic: bool,
    emit: impl FnOnce(&[Ident]) -> TokenStream,
    all: &[Ident],
) -> TokenStream {
    let Data::Enum(data) = &input.data else {
        return TokenStream::new();
    };
    if generic
        || data
            .variants
            .iter()
            .any(|v| !matches!(v.fields, Fields::Unit))
    {
        return TokenStream::new();
    }
    emit(all)
}

/// `EmbeddedScript`, `FromStr`, `Display` and the typed calls. `all` is
/// every variant in declaration order when some have no entry (a derive
/// with errors): their `meta()` arm is `unreachable!()`, as the crate does
/// not compile anyway, and no use of the enum gets a follow-on error.
fn emit_impls(
    ident: &Ident,
    vis: &syn::Visibility,
    entries: &[Entry],
    all: Option<&[Ident]>,
) -> TokenStream {
    let p = quote!(::script_cache::__private);
    let variants: Vec<&Ident> = entries.iter().map(|e| &e.variant).collect();
    let missing: Vec<&Ident> = all
        .unwrap_or_default()
        .iter()
        .filter(|v| !variants.contains(v))
        .collect();
    let listed: Vec<&Ident> = match all {
        Some(all) => all.iter().collect(),
        None => variants.clone(),
    };
    let names: Vec<&str> = entries.iter().map(|e| e.file.stem.as_str()).collect();
    let tracking = entries.iter().flat_map(|e| {
        std::iter::once(&e.file.abs).chain(&e.included).map(|abs| {
            let path = abs.to_string_lossy().into_owned();
            quote!(
                const _: &[u8] = ::core::include_bytes!(#path);
            )
        })
    });
    let typed: Vec<TokenStream> = entries
        .iter()
        .filter_map(|e| Some(emit_typed(&p, vis, e, e.typed.as_ref()?)))
        .collect();
    let typed = (!typed.is_empty()).then(|| {
        quote! {
            /// Typed calls: one function per script, with its keys and
            /// arguments as parameters.
            #[automatically_derived]
            #[allow(dead_code, clippy::too_many_arguments)]
            impl #ident {
                #(#typed)*
            }
        }
    });
    let metas = entries.iter().map(|e| {
        let name = &e.file.stem;
        let file = &e.file.file;
        let source = &e.source;
        let sha1 = sha1_hex(source);
        let legacy = match lua::legacy_source(source) {
            Some(legacy) => {
                let legacy_sha1 = sha1_hex(&legacy);
                quote!(::core::option::Option::Some(#p::LegacySource {
                    source: #legacy,
                    sha1: #legacy_sha1,
                }))
            }
            None => quote!(::core::option::Option::None),
        };
        let flags = &e.flags;
        let keys = arity_tokens(e.usage.keys);
        let args = arity_tokens(e.usage.args);
        let doc = e.doc.join("\n");
        let spans = e.spans.iter().map(|s| {
            let (start, len, first) = (u32_lit(s.start), u32_lit(s.len), u32_lit(s.first));
            let file = &s.file;
            quote!(#p::LineSpan { start: #start, len: #len, file: #file, first: #first })
        });
        quote! {
            static META: #p::ScriptMeta = #p::ScriptMeta::__new(
                #name, #file, #source, #sha1, #legacy, &[#(#flags),*], #keys, #args, #doc,
                &[#(#spans),*],
            );
            &META
        }
    });
    quote! {
        const _: () = {
            #(#tracking)*

            #[automatically_derived]
            impl #p::EmbeddedScript for #ident {
                const ALL: &'static [Self] = &[#(Self::#listed),*];

                fn meta(self) -> &'static #p::ScriptMeta {
                    match self {
                        #(Self::#variants => { #metas })*
                        #(Self::#missing => ::core::unreachable!(),)*
                    }
                }
            }

            #[automatically_derived]
            impl ::core::str::FromStr for #ident {
                type Err = #p::UnknownScriptName;

                fn from_str(name: &str) -> ::core::result::Result<Self, Self::Err> {
                    match name {
                        #(#names => ::core::result::Result::Ok(Self::#variants),)*
                        _ => ::core::result::Result::Err(#p::UnknownScriptName::__new(
                            name,
                            &[#(#names),*],
                        )),
                    }
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(<Self as #p::EmbeddedScript>::name(*self))
                }
            }

            #typed
        };
    }
    .into_token_stream()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("lua")).unwrap();
        for (name, body) in files {
            fs::write(dir.path().join("lua").join(name), body).unwrap();
        }
        dir
    }

    /// No input crashes or hangs the macro: each hostile file gives an
    /// error naming `file:line:col` (or compiles), quickly. Timings are
    /// printed (`cargo test -p script-cache-macros large -- --nocapture`);
    /// the bound is loose, to catch a quadratic blow-up, not to benchmark.
    #[test]
    fn large_and_hostile_inputs_are_errors_not_crashes() {
        // Globals only: Lua refuses a function that declares more than
        // 32767 locals in all, as the servers do.
        let big: String = {
            let unit = "x = redis.call('GET', KEYS[1]) .. ARGV[2]\n\
                        if x then y = { x, #x } end -- and a comment\n";
            unit.repeat((1 << 20) / unit.len() + 1)
        };
        let many_locals = "do local function f() return KEYS[1] end end\n".repeat(40_000);
        let cases: Vec<(&str, String, Option<&str>)> = vec![
            ("one_mb.lua", big.clone(), None),
            ("ten_mb.lua", big.repeat(10), None),
            ("locals.lua", many_locals, Some("too many local variables")),
            (
                "parens.lua",
                format!("return {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
                Some("lua/parens.lua:1:"),
            ),
            (
                "ifs.lua",
                "if x then ".repeat(100_000),
                Some("lua/ifs.lua:1:"),
            ),
            (
                "tables.lua",
                format!("return {}", "{".repeat(100_000)),
                Some("lua/tables.lua:1:"),
            ),
            (
                "nots.lua",
                format!("return {}x", "not ".repeat(100_000)),
                Some("lua/nots.lua:1:"),
            ),
            (
                "minus.lua",
                format!("return {}x", "- ".repeat(100_000)),
                Some("lua/minus.lua:1:"),
            ),
            (
                "concat.lua",
                format!("return x{}", " .. x".repeat(100_000)),
                Some("lua/concat.lua:1:"),
            ),
            (
                "index.lua",
                "return KEYS[1000000]".to_owned(),
                Some("lua/index.lua:1:8: `KEYS[1000000]`"),
            ),
            (
                "junk.lua",
                (0..200_000u32)
                    .map(|i| char::from_u32(i % 0x7F + 1).unwrap_or('x'))
                    .collect(),
                Some("lua/junk.lua:"),
            ),
            (
                "backtick.lua",
                "return `x`".to_owned(),
                Some("lua/backtick.lua:1:8:"),
            ),
            (
                "cr.lua",
                "-- note\rredis.call('SET', 'hidden', 'ran') return 1".to_owned(),
                None,
            ),
        ];
        for (name, body, want) in cases {
            let dir = crate_with(&[(name, &body)]);
            let start = std::time::Instant::now();
            let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
            let took = start.elapsed();
            println!("{name}: {} bytes in {took:.2?}", body.len());
            assert!(
                took < std::time::Duration::from_secs(20),
                "{name} took {took:?}"
            );
            match want {
                Some(want) => assert!(
                    out.contains(want),
                    "{name}: {}",
                    &out[out.len().saturating_sub(600)..]
                ),
                None => assert!(
                    !out.contains("compile_error"),
                    "{name}: {}",
                    &out[out.len().saturating_sub(600)..]
                ),
            }
        }
    }

    #[test]
    fn include_emits_enum_and_impls() {
        let dir = crate_with(&[
            ("b_two.lua", "--- Second.\nreturn ARGV[2]"),
            ("a.lua", "#!lua flags=no-writes\nreturn KEYS[1]"),
        ]);
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("pub enum Scripts"), "{out}");
        let a = out.find(" A ,").unwrap();
        let b = out.find(" BTwo ,").unwrap();
        assert!(a < b, "sorted by file: {out}");
        assert!(out.contains("\" Second.\""), "{out}");
        assert!(out.contains(&sha1_hex("--!lua flags=no-writes\nreturn KEYS[1]")));
        assert!(out.contains("include_bytes !"), "{out}");
        assert!(out.contains("\"no-writes\""), "{out}");
        // Only ::script_cache::__private and ::core paths.
        assert!(!out.contains("redis"), "{out}");
    }

    #[test]
    fn all_errors_in_one_pass() {
        let dir = crate_with(&[
            ("1st.lua", "return 1"),
            ("self.lua", "return 1"),
            ("a_b.lua", "return 1"),
            ("a-b.lua", "return 1"),
            ("broken.lua", "return )"),
            ("flags.lua", "#!lua flags=nope\nreturn 1"),
            ("fine.lua", "return 1"),
        ]);
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        for want in [
            "lua/1st.lua",
            "lua/self.lua",
            "`lua/a-b.lua` and `lua/a_b.lua` both map to the variant `AB`",
            "lua/broken.lua:1:8: Lua 5.1 syntax error",
            "lua/flags.lua:1:7: unknown shebang flag `nope`",
        ] {
            assert!(out.contains(want), "{want}: {out}");
        }
        // The skeleton keeps the good scripts, without the clashing ones.
        assert!(out.contains(" Fine ,"), "{out}");
        assert!(out.contains(" Broken ,"), "{out}");
        assert!(!out.contains(" AB ,"), "{out}");
    }

    #[test]
    fn attribute_keeps_user_items_and_adds_missing_derives() {
        let dir = crate_with(&[("x.lua", "return 1")]);
        let out = attribute(
            quote!(dir = "lua"),
            quote!(
                /// Mine.
                #[derive(Debug, core::hash::Hash)]
                pub(crate) enum Lua {}
            ),
            Some(dir.path()),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("pub (crate) enum Lua"), "{out}");
        assert!(out.contains("\" Mine.\""), "{out}");
        assert!(out.contains(":: core :: clone :: Clone"), "{out}");
        assert!(!out.contains(":: core :: fmt :: Debug"), "{out}");
        assert!(!out.contains(":: core :: hash :: Hash"), "{out}");
    }

    #[test]
    fn derive_finds_files_and_reports_missing() {
        let dir = crate_with(&[("rate_limit.lua", "return KEYS[1]")]);
        fs::create_dir(dir.path().join("lua/locks")).unwrap();
        fs::write(dir.path().join("lua/locks/release.lua"), "return 1").unwrap();
        let ok = derive(
            quote!(
                #[scripts(dir = "lua/")]
                enum Lua {
                    RateLimit,
                    #[script(file = "locks/release.lua")]
                    Release,
                }
            ),
            Some(dir.path()),
        )
        .to_string();
        assert!(!ok.contains("compile_error"), "{ok}");
        assert!(ok.contains("\"locks/release.lua\""), "{ok}");
        let bad = derive(
            quote!(
                #[scripts(dir = "lua/")]
                enum Lua {
                    RateLimit,
                    GetMany,
                }
            ),
            Some(dir.path()),
        )
        .to_string();
        assert!(
            bad.contains("variant `GetMany` has no script: expected `lua/get_many.lua`"),
            "{bad}"
        );
        // The impls are still there (thiserror's fallback): no follow-on
        // errors at each use of the enum.
        assert!(
            bad.contains("const ALL : & 'static [Self] = & [Self :: RateLimit , Self :: GetMany]"),
            "{bad}"
        );
        assert!(
            bad.contains("Self :: GetMany => :: core :: unreachable ! ()"),
            "{bad}"
        );
        let no_dir = derive(
            quote!(
                enum Lua {
                    RateLimit,
                }
            ),
            Some(dir.path()),
        )
        .to_string();
        assert!(no_dir.contains("EmbeddedScript for Lua"), "{no_dir}");
    }

    #[test]
    fn a_snippet_error_is_reported_once() {
        let mut files: Vec<(String, String)> = (0..17)
            .map(|i| {
                (
                    format!("s{i}.lua"),
                    "-- @include \"lib/bad.lua\"\nreturn f()\n".to_owned(),
                )
            })
            .collect();
        files.push(("lib_dummy.lua".to_owned(), "return 1".to_owned()));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let dir = crate_with(&refs);
        fs::create_dir(dir.path().join("lua/lib")).unwrap();
        fs::write(
            dir.path().join("lua/lib/bad.lua"),
            "local function f()\n  if x then\n  return 1\nend\n",
        )
        .unwrap();
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(
            out.contains("lua/lib/bad.lua:1:7: Lua 5.1 syntax error: `function` is not closed"),
            "{out}"
        );
        assert!(
            out.contains("(in a snippet, included as s0.lua -> lib/bad.lua)"),
            "{out}"
        );
    }

    #[test]
    fn typed_calls_are_emitted() {
        let dir = crate_with(&[
            (
                "rate-limit.lua",
                "--- Doc.\n-- @key bucket the hash\n-- @arg cost\n-- @return nil-or-integer left\n\
                 return KEYS[1] .. ARGV[1]",
            ),
            (
                "loop.lua",
                "return redis.call('MGET', unpack(KEYS)) .. ARGV[2]",
            ),
            ("name.lua", "return 1"),
        ]);
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        assert!(!out.contains("compile_error"), "{out}");
        for want in [
            "pub fn rate_limit (bucket : impl :: script_cache :: __private :: ToSingleRedisArg , \
             cost : impl :: script_cache :: __private :: ToSingleRedisArg) -> :: script_cache :: \
             __private :: TypedInvocation < :: core :: option :: Option < :: core :: primitive :: i64 > >",
            ". key (bucket) . arg (cost)",
            "pub fn r#loop (keys : & [impl :: script_cache :: __private :: ToRedisArgs] , arg1 : \
             impl :: script_cache :: __private :: ToSingleRedisArg , arg2 : impl :: script_cache \
             :: __private :: ToSingleRedisArg) -> :: script_cache :: __private :: Invocation",
            "pub fn name () -> :: script_cache :: __private :: Invocation",
            "\" * `bucket` (`KEYS[1]`): the hash\"",
            "\" * `keys` (`KEYS[1..]`, any number)\"",
            "\" `Option<i64>` (`@return nil-or-integer`): left. `invoke_as::<T>` converts to another type.\"",
            "& []",
        ] {
            assert!(out.contains(want), "{want}: {out}");
        }
        assert!(!out.contains("redis ::"), "{out}");
    }

    #[test]
    fn includes_are_expanded_tracked_and_mapped() {
        let dir = crate_with(&[(
            "main.lua",
            "-- @key k\n-- @include \"lib/util.lua\"\nreturn f(KEYS[1])\n",
        )]);
        fs::create_dir(dir.path().join("lua/lib")).unwrap();
        fs::write(
            dir.path().join("lua/lib/util.lua"),
            "local function f(k)\n  return k\nend\n",
        )
        .unwrap();
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        assert!(!out.contains("compile_error"), "{out}");
        let expanded = "-- @key k\nlocal function f(k)\n  return k\nend\nreturn f(KEYS[1])\n";
        assert!(out.contains(&sha1_hex(expanded)), "{out}");
        assert!(
            out.contains("lua/lib/util.lua\")"),
            "include_bytes! of the snippet: {out}"
        );
        for span in [
            "LineSpan { start : 1 , len : 1 , file : \"main.lua\" , first : 1 }",
            "LineSpan { start : 2 , len : 3 , file : \"lib/util.lua\" , first : 1 }",
            "LineSpan { start : 5 , len : 1 , file : \"main.lua\" , first : 3 }",
        ] {
            assert!(out.contains(span), "{span}: {out}");
        }
        // A syntax error and a header mismatch inside the snippet name it.
        fs::write(
            dir.path().join("lua/lib/util.lua"),
            "local function f(k)\n  return )\nend\n",
        )
        .unwrap();
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        assert!(
            out.contains("lua/lib/util.lua:2:10: Lua 5.1 syntax error: unexpected symbol near ')' (in a snippet, included as main.lua -> lib/util.lua)"),
            "{out}"
        );
        fs::write(
            dir.path().join("lua/lib/util.lua"),
            "local function f(k)\n  return KEYS[2]\nend\n",
        )
        .unwrap();
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        assert!(
            out.contains(
                "lua/lib/util.lua:2:10: the script reads KEYS[2] but its header declares 1 key"
            ),
            "{out}"
        );
    }

    #[test]
    fn typed_problems_are_reported_once_each() {
        let dir = crate_with(&[
            ("super.lua", "return 1"),
            ("HTTPGet.lua", "return 1"),
            ("http_get.lua", "return 1"),
            ("bad_return.lua", "-- @return int\nreturn 1"),
            ("stale.lua", "-- @key a\n-- @key b\nreturn KEYS[1]"),
            ("cycle.lua", "-- @include \"cycle.lua\"\nreturn 1"),
        ]);
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        for want in [
            "`lua/super.lua`: the name of its typed call function, `super`, is the keyword",
            "`lua/HTTPGet.lua` and `lua/http_get.lua` both get the typed call function `http_get`",
            "lua/bad_return.lua:1:4: `@return int`: unknown type `int`",
            "lua/stale.lua:2: `@key b` declares KEYS[2], but the script never reads it",
            "lua/cycle.lua:1:1: include cycle: cycle.lua -> cycle.lua",
        ] {
            assert!(out.contains(want), "{want}: {out}");
        }
        // The variants stay; the functions with problems are not emitted.
        assert!(
            out.contains(" HttpGet ,") && out.contains(" Stale ,"),
            "{out}"
        );
        assert!(
            !out.contains("fn http_get") && !out.contains("fn stale"),
            "{out}"
        );
    }
}
