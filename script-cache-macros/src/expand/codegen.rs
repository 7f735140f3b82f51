//! Code generation: the enum, its impls, the typed calls and their docs,
//! from analysed [`Entry`]s.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Token};

use crate::lua::{self, Arity};
use script_cache_check::Diagnostic;
pub(super) use script_cache_check::sha1_hex;
use script_cache_check::signature::Parameter;

use script_cache_check::header::ReturnType;

use super::analysis::{Entry, Function, Library, Typed};

pub(super) const DERIVES: &[(&str, &str)] = &[
    ("Clone", "::core::clone::Clone"),
    ("Copy", "::core::marker::Copy"),
    ("Debug", "::core::fmt::Debug"),
    ("PartialEq", "::core::cmp::PartialEq"),
    ("Eq", "::core::cmp::Eq"),
    ("Hash", "::core::hash::Hash"),
];

/// Names (last path segment) of what `attrs` already derive.
pub(super) fn derived(attrs: &[Attribute]) -> Vec<String> {
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
pub(super) fn derives(present: &[String]) -> TokenStream {
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

pub(super) fn emit_enum(
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

pub(super) fn count(arity: Arity, what: &str) -> String {
    match arity {
        Arity::Exact(1) => format!("1 {what}"),
        Arity::Exact(n) => format!("{n} {what}s"),
        Arity::Variadic { min: 0 } => format!("any number of {what}s"),
        Arity::Variadic { min } => format!("{min} or more {what}s"),
    }
}

/// How many keys (or args) a call of the script passes: the typed call's
/// parameters when it has one (its header is the contract: a routing key
/// the body never reads counts, and a rest slice may be empty), otherwise
/// what the body reads. What `ScriptMeta::keys`/`args` say, and what the
/// runtime holds an untyped call to before sending it.
pub(super) fn call_arity(usage: Arity, typed: Option<&Vec<(Ident, Parameter)>>) -> Arity {
    let Some(params) = typed else {
        return usage;
    };
    let fixed = params.iter().filter(|(_, p)| !p.rest).count();
    if params.iter().any(|(_, p)| p.rest) {
        Arity::Variadic { min: fixed }
    } else {
        Arity::Exact(fixed)
    }
}

pub(super) fn variant_docs(e: &Entry) -> Vec<String> {
    let mut docs = doc_lines(&e.doc);
    let read_only = if e.flags.iter().any(|f| f == "no-writes") {
        ", read-only"
    } else {
        ""
    };
    docs.push(format!(
        " `{}`: {}{read_only}. SHA-1 `{}`.",
        e.file_shown,
        arity_text(&e.usage, e.typed.as_ref()),
        sha1_hex(&e.source),
    ));
    docs
}

/// The doc lines of a comment block, each with its leading space, and a
/// blank line after them when there are any.
fn doc_lines(doc: &[String]) -> Vec<String> {
    let mut docs: Vec<String> = doc.iter().map(|l| format!(" {l}")).collect();
    if !docs.is_empty() {
        docs.push(String::new());
    }
    docs
}

/// "1 key, 2 args": what a call takes, from its typed parameters when it
/// has them, else from the body's usage.
fn arity_text(usage: &lua::Usage, typed: Option<&Typed>) -> String {
    format!(
        "{}, {}",
        count(call_arity(usage.keys, typed.map(|t| &t.keys)), "key"),
        count(call_arity(usage.args, typed.map(|t| &t.args)), "arg")
    )
}

/// The `# Parameters` and `# Reply` sections of a typed call's rustdoc;
/// `tables` names where the body reads its keys and arguments (`KEYS` and
/// `ARGV`, or the callback's parameters), `whose` where `@return` is
/// written ("script's header", "function's comment block").
fn params_and_reply(t: &Typed, tables: [&str; 2], whose: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut list = Vec::new();
    for (table, params) in tables.into_iter().zip([&t.keys, &t.args]) {
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
        None => docs.push(format!(
            " The {whose} has no `-- @return`, so the caller picks the type: \
             `invoke::<T>(..)` with any `FromRedisValue` type."
        )),
    }
    docs
}

pub(super) fn u32_lit(n: usize) -> Literal {
    Literal::u32_unsuffixed(u32::try_from(n).unwrap_or(u32::MAX))
}

pub(super) fn arity_tokens(arity: Arity) -> TokenStream {
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
pub(super) fn typed_docs(e: &Entry, t: &Typed) -> Vec<String> {
    let mut docs = doc_lines(&e.doc);
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
    docs.extend(params_and_reply(t, ["KEYS", "ARGV"], "script's header"));
    docs
}

pub(super) fn emit_typed(
    p: &TokenStream,
    vis: &syn::Visibility,
    e: &Entry,
    t: &Typed,
) -> TokenStream {
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
        <Self as #p::EmbeddedScript>::invocation(Self::#variant)
            #(.key(#keys))*
            #(.arg(#args))*
    };
    let (ret, body) = match &t.returns {
        Some(r) => {
            let ty = return_type_tokens(&r.ty);
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
pub(super) fn fallback_impls(
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

/// Compiler warnings from a proc macro: stable Rust has no warning API
/// for them, so each is the use of a deprecated constant, at `span`. The
/// constant is named after the rule and its note is the finding, so the
/// warning reads "use of deprecated constant
/// `_::script_cache_lint::key_not_in_keys`: a key of `GET` is ...": the
/// compiler's fixed words, the rule, then the finding.
pub(super) fn warnings(list: impl IntoIterator<Item = (String, String, Span)>) -> TokenStream {
    let blocks: Vec<TokenStream> = list
        .into_iter()
        .map(|(rule, note, span)| {
            let name = Ident::new(&rule, span);
            quote_spanned! {span=>
                {
                    #[deprecated(note = #note)]
                    const #name: () = ();
                    let _ = #name;
                }
            }
        })
        .collect();
    if blocks.is_empty() {
        return TokenStream::new();
    }
    quote! {
        #[allow(dead_code, non_upper_case_globals)]
        fn script_cache_lint() {
            #(#blocks)*
        }
    }
}

/// The constant a lint warning is named after: its rule
/// (`key-not-in-keys` -> `key_not_in_keys`).
pub(super) fn rule_name(warning: &Diagnostic) -> String {
    warning
        .rule
        .map_or_else(|| "lint_warning".to_owned(), |rule| rule.replace('-', "_"))
}

/// The lint's warnings as compiler warnings ([`warnings`]), at the
/// script's variant.
fn lint_warnings(entries: &[Entry]) -> TokenStream {
    warnings(entries.iter().flat_map(|e| {
        e.warnings
            .iter()
            .map(|w| (rule_name(w), w.to_string(), e.variant.span()))
    }))
}

/// `EmbeddedScript`, `FromStr`, `Display` and the typed calls. `all` is
/// every variant in declaration order when some have no entry (a derive
/// with errors): their `meta()` arm is `unreachable!()`, as the crate does
/// not compile anyway, and no use of the enum gets a follow-on error.
pub(super) fn emit_impls(
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
    let name_impls = name_impls(&p, ident, &variants, &names, quote!(#p::EmbeddedScript));
    let warnings = lint_warnings(entries);
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
        let typed = e.typed.as_ref();
        let keys = arity_tokens(call_arity(e.usage.keys, typed.map(|t| &t.keys)));
        let args = arity_tokens(call_arity(e.usage.args, typed.map(|t| &t.args)));
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
            #warnings

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

            #name_impls

            #typed
        };
    }
    .into_token_stream()
}

/// `FromStr` (by the name in the file, with the known names in the error)
/// and `Display` (that name) of a generated enum whose variants `variants`
/// have the names `names`, shown through `embedded` (`EmbeddedScript` or
/// `EmbeddedFunction`).
fn name_impls<V: ToTokens, N: ToTokens>(
    p: &TokenStream,
    ident: &Ident,
    variants: &[V],
    names: &[N],
    embedded: TokenStream,
) -> TokenStream {
    quote! {
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
                f.write_str(<Self as #embedded>::name(*self))
            }
        }
    }
}

/// The Rust type of a `@return` type, naming only
/// `::script_cache::__private` and `::core`.
pub(super) fn return_type_tokens(ty: &ReturnType) -> TokenStream {
    let p = quote!(::script_cache::__private);
    match ty {
        ReturnType::Integer => quote!(::core::primitive::i64),
        ReturnType::String | ReturnType::Status => quote!(#p::String),
        ReturnType::Boolean => quote!(::core::primitive::bool),
        ReturnType::Value => quote!(#p::Value),
        ReturnType::Nil => quote!(()),
        ReturnType::Array(None) => quote!(#p::Vec<#p::Value>),
        ReturnType::Array(Some(inner)) => {
            let inner = return_type_tokens(inner);
            quote!(#p::Vec<#inner>)
        }
        ReturnType::Optional(inner) => {
            let inner = return_type_tokens(inner);
            quote!(::core::option::Option<#inner>)
        }
    }
}

/// The rustdoc of a function's variant: its doc, then its library, file,
/// arity and the library's SHA-1.
fn function_docs(lib: &Entry, name: &str, f: &Function) -> Vec<String> {
    let mut docs = doc_lines(&f.doc);
    let read_only = if f.flags.iter().any(|f| f == "no-writes") {
        ", read-only (`FCALL_RO`)"
    } else {
        ""
    };
    docs.push(format!(
        " Function `{}` of library `{name}` (`{}`): {}{read_only}. Library SHA-1 `{}`.",
        f.name,
        lib.file_shown,
        arity_text(&f.usage, f.typed.as_ref()),
        sha1_hex(library_code(lib)),
    ));
    if f.server_name != f.name {
        docs.push(format!(
            " On the server (versioned mode): function `{}`.",
            f.server_name
        ));
    }
    docs
}

/// The code a library's entry sends with `FUNCTION LOAD`.
fn library_code(lib: &Entry) -> &str {
    lib.library.as_ref().map_or(&lib.source, |l| &l.code)
}

/// The rustdoc of a function's typed call.
fn function_typed_docs(lib: &Entry, name: &str, f: &Function, t: &Typed) -> Vec<String> {
    let mut docs = doc_lines(&f.doc);
    let (read_only, command) = if f.flags.iter().any(|f| f == "no-writes") {
        (" (read-only)", "FCALL_RO")
    } else {
        ("", "FCALL")
    };
    docs.push(format!(
        " Calls the function `{}`{read_only} of library `{name}` (`{}`, SHA-1 `{}`) with \
         `{command}`: run the returned invocation with `invoke`, `invoke_async` or in a \
         pipeline. The library is loaded with the call when the server lacks it.",
        f.server_name,
        lib.file_shown,
        sha1_hex(library_code(lib)),
    ));
    docs.extend(params_and_reply(
        t,
        ["keys", "args"],
        "function's comment block",
    ));
    docs
}

/// `Functions`: one variant per function of the folder's libraries, its
/// `EmbeddedFunction`, `FromStr`, `Display` and typed calls. Nothing when
/// the folder has no library.
pub(super) fn emit_functions(vis: &syn::Visibility, libraries: &[Entry]) -> TokenStream {
    let libs: Vec<(&Entry, &Library)> = libraries
        .iter()
        .filter_map(|e| Some((e, e.library.as_ref()?)))
        .collect();
    if libs.is_empty() {
        return TokenStream::new();
    }
    let p = quote!(::script_cache::__private);
    let ident = Ident::new("Functions", Span::call_site());
    let warnings = lint_warnings(libraries);
    let tracking = libraries.iter().flat_map(|e| {
        std::iter::once(&e.file.abs).chain(&e.included).map(|abs| {
            let path = abs.to_string_lossy().into_owned();
            quote!(
                const _: &[u8] = ::core::include_bytes!(#path);
            )
        })
    });
    let lib_statics = libs.iter().enumerate().map(|(i, (e, l))| {
        let static_name = Ident::new(&format!("LIBRARY_{i}"), Span::call_site());
        let (name, server_name, file, code) = (&l.name, &l.server_name, &e.file.file, &l.code);
        let sha1 = sha1_hex(code);
        quote!(static #static_name: #p::LibraryMeta = #p::LibraryMeta::__new(#name, #server_name, #file, #code, #sha1);)
    });
    let mut variants = Vec::new();
    let mut idents = Vec::new();
    let mut names = Vec::new();
    let mut metas = Vec::new();
    let mut typed = Vec::new();
    for (i, (e, l)) in libs.iter().enumerate() {
        let lib_static = Ident::new(&format!("LIBRARY_{i}"), Span::call_site());
        for f in &l.functions {
            let docs = function_docs(e, &l.name, f);
            let v = &f.variant;
            variants.push(quote!(#(#[doc = #docs])* #v));
            idents.push(v.clone());
            names.push(f.name.clone());
            let name = &f.name;
            let server_name = &f.server_name;
            let flags = &f.flags;
            let t = f.typed.as_ref();
            let keys = arity_tokens(call_arity(f.usage.keys, t.map(|t| &t.keys)));
            let args = arity_tokens(call_arity(f.usage.args, t.map(|t| &t.args)));
            let doc = f.doc.join("\n");
            metas.push(quote! {{
                static META: #p::FunctionMeta =
                    #p::FunctionMeta::__new(#name, #server_name, &#lib_static, &[#(#flags),*], #keys, #args, #doc);
                &META
            }});
            if let Some(t) = t {
                let docs = function_typed_docs(e, &l.name, f, t);
                let fn_name = &t.name;
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
                    #p::Invocation::of_function(<Self as #p::EmbeddedFunction>::meta(Self::#v))
                        #(.key(#keys))*
                        #(.arg(#args))*
                };
                let (ret, body) = match &t.returns {
                    Some(r) => {
                        let ty = return_type_tokens(&r.ty);
                        (
                            quote!(#p::TypedInvocation<#ty>),
                            quote!(#p::TypedInvocation::__new(#invocation)),
                        )
                    }
                    None => (quote!(#p::Invocation), invocation),
                };
                typed.push(quote! {
                    #(#[doc = #docs])*
                    #[must_use = "a function call does nothing until it is invoked"]
                    #vis fn #fn_name(#(#params),*) -> #ret {
                        #body
                    }
                });
            }
        }
    }
    let doc = " The functions of the folder's function libraries (`#!lua name=<library>`), \
               one variant per registered function; called with `FCALL` / `FCALL_RO`, the \
               library loaded with the first call on each server.";
    let name_impls = name_impls(&p, &ident, &idents, &names, quote!(#p::EmbeddedFunction));
    quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug,
                 ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
        #vis enum #ident {
            #(#variants,)*
        }

        const _: () = {
            #(#tracking)*
            #warnings
            #(#lib_statics)*

            #[automatically_derived]
            impl #p::EmbeddedFunction for #ident {
                const ALL: &'static [Self] = &[#(Self::#idents),*];

                fn meta(self) -> &'static #p::FunctionMeta {
                    match self {
                        #(Self::#idents => #metas)*
                    }
                }
            }

            #name_impls

            /// Typed calls: one function per registered function, with its
            /// keys and arguments as parameters.
            #[automatically_derived]
            #[allow(dead_code, clippy::too_many_arguments)]
            impl #ident {
                #(#typed)*
            }
        };
    }
}
