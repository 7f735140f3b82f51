//! Turning macro input into the enum and its impls, in three stages:
//! this module reads the input of the three macro forms (the folder of
//! `include_scripts!` and `#[scripts]`, the variants of
//! `#[derive(Scripts)]`) and collects the errors; `analysis` turns each
//! script file into an `Entry`; `codegen` emits the tokens.
//!
//! Every problem becomes a `syn::Error` spanned on the folder literal (or
//! the variant, for `#[derive(Scripts)]`); all of them are collected and
//! emitted together, next to an enum with the scripts that are fine, so one
//! bad file does not cascade into errors at every use of the enum.

mod analysis;
mod codegen;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr};

use script_cache_check::Diagnostic;
use script_cache_check::analysis::check_folder;
use script_cache_check::folder::{self as scan, Folder};
use script_cache_check::naming;

use analysis::{Entry, entry, typed_collisions};
use codegen::{derived, derives, emit_enum, emit_functions, emit_impls, fallback_impls};

/// Collects errors; see the module docs. A problem reported twice (a
/// snippet's, reached from several scripts) is reported once, with the
/// first include chain ([`Diagnostic::same_problem`]).
#[derive(Default)]
struct Errors {
    all: Option<syn::Error>,
    seen: Vec<Diagnostic>,
}

impl Errors {
    /// A problem with the macro's input, at `span`.
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.add(syn::Error::new(span, message));
    }

    /// A problem in the script folder, rendered at `span`
    /// (`--> lua/x.lua:3:7`, the line, a caret, notes and help).
    fn diagnostic(&mut self, span: Span, d: Diagnostic) {
        if self.seen.iter().any(|s| s.same_problem(&d)) {
            return;
        }
        self.add(syn::Error::new(span, d.to_string()));
        self.seen.push(d);
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
    let (entries, warnings) = folder_entries(&lit, manifest_dir, &mut errors);
    let (libraries, entries): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.library.is_some());
    let doc = format!(
        " The Lua scripts embedded from `{}`, one variant per file.",
        lit.value()
    );
    let attrs: Vec<Attribute> = vec![syn::parse_quote!(#[doc = #doc])];
    let ident = Ident::new("Scripts", Span::call_site());
    let vis: syn::Visibility = syn::parse_quote!(pub);
    let mut out = emit_enum(&attrs, &vis, &ident, &entries, derives(&[]));
    out.extend(emit_impls(&ident, &vis, &entries, None));
    out.extend(emit_functions(&vis, &libraries));
    out.extend(warnings);
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
    let (entries, warnings) = match &dir {
        Some(dir) => folder_entries(dir, manifest_dir, &mut errors),
        None => (Vec::new(), TokenStream::new()),
    };
    let (libraries, entries): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.library.is_some());
    let present = derived(&input.attrs);
    let mut out = emit_enum(
        &input.attrs,
        &input.vis,
        &input.ident,
        &entries,
        derives(&present),
    );
    out.extend(emit_impls(&input.ident, &input.vis, &entries, None));
    out.extend(emit_functions(&input.vis, &libraries));
    out.extend(warnings);
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
                        errors.diagnostic(dir.span(), e);
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
                errors.diagnostic(span, e);
            }
            continue;
        };
        let analysis = script_cache_check::analysis::analyze(&folder, &lua_file, &mut file_errors);
        for e in file_errors {
            errors.diagnostic(span, e);
        }
        let mut ident_errors = Vec::new();
        let entry = entry(
            &folder,
            lua_file,
            variant.ident.clone(),
            analysis,
            &mut ident_errors,
        );
        for e in ident_errors {
            errors.push(span, e);
        }
        if entry.library.is_some() {
            errors.push(
                span,
                format!(
                    "`{}` is a function library (`#!lua name=..`), not a script: remove the \
                     variant `{}`; `include_scripts!` and `#[scripts(dir = ..)]` generate the \
                     enum `Functions` for the folder's libraries",
                    entry.file_shown, variant.ident
                ),
            );
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
        errors.diagnostic(input.ident.span(), e);
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

/// Every top-level script of the folder, for the folder-wide forms, and
/// the folder's own warnings (a `*.LUA` file that is not a script) as
/// tokens.
fn folder_entries(
    lit: &LitStr,
    manifest_dir: Option<&Path>,
    errors: &mut Errors,
) -> (Vec<Entry>, TokenStream) {
    let folder = match resolve(lit, manifest_dir) {
        Ok(folder) => folder,
        Err(e) => {
            errors.add(e);
            return (Vec::new(), TokenStream::new());
        }
    };
    let span = lit.span();
    let checked = check_folder(&folder);
    let folder_warnings = codegen::warnings(
        checked
            .warnings
            .iter()
            .filter(|w| w.rule.is_none())
            .map(|w| ("lua_extension_case".to_owned(), w.message.clone(), span)),
    );
    let folder_warnings = if folder_warnings.is_empty() {
        folder_warnings
    } else {
        quote::quote!(const _: () = { #folder_warnings };)
    };
    for e in checked.errors {
        errors.diagnostic(span, e);
    }
    let mut entries = Vec::new();
    for s in checked.scripts {
        match syn::parse_str::<Ident>(&s.variant) {
            Ok(ident) => {
                let mut ident_errors = Vec::new();
                entries.push(entry(&folder, s.file, ident, s.analysis, &mut ident_errors));
                for e in ident_errors {
                    errors.push(span, e);
                }
            }
            Err(_) => errors.push(
                span,
                format!(
                    "`{}` maps to `{}`, which is not an identifier; rename the file",
                    s.analysis.shown, s.variant
                ),
            ),
        }
    }
    (entries, folder_warnings)
}
