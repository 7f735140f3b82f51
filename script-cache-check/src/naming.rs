//! File stem -> variant name.
//!
//! A stem maps to UpperCamelCase by splitting on `_` and `-` and upper-casing
//! the first letter of each part (the rest is kept as written):
//! `rate_limit` and `rate-limit` both become `RateLimit`, `getMany` becomes
//! `GetMany`. Stems may use ASCII letters, digits, `_` and `-` only; the
//! mapped name must start with a letter and be a Rust identifier (`self`
//! maps to the keyword `Self` and is refused).
//!
//! The typed call function is the snake_case of the stem: words split on
//! `_`, `-` and case changes (`rate-limit`, `RateLimit`, `rateLimit` ->
//! `rate_limit`; `HTTPGet` -> `http_get`). A Rust keyword becomes a raw
//! identifier (`loop.lua` -> `Scripts::r#loop`); the four keywords that
//! cannot be raw (`self`, `Self`, `super`, `crate`) are errors.

use std::collections::BTreeMap;

use crate::header::rust_ident;

/// Why a stem cannot name a variant. The message names the file and says
/// how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

/// Maps a file stem to the variant identifier it names.
pub fn variant_name(stem: &str, file: &str) -> Result<String, NameError> {
    if let Some(bad) = stem
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(NameError(format!(
            "`{file}`: the file name contains {bad:?}, which cannot be part of a variant name; \
             rename the file using only ASCII letters, digits, `_` and `-`"
        )));
    }
    let mut out = String::with_capacity(stem.len());
    for part in stem.split(['_', '-']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    match out.chars().next() {
        None => Err(NameError(format!(
            "`{file}`: the file name maps to an empty variant name; \
             rename the file so its stem contains a letter"
        ))),
        Some(c) if c.is_ascii_digit() => Err(NameError(format!(
            "`{file}`: the file name maps to `{out}`, which starts with a digit; \
             rename the file so its stem starts with a letter"
        ))),
        // Only `Self` is a keyword in UpperCamelCase.
        Some(_) if rust_ident(&out).ok().as_deref() != Some(out.as_str()) => {
            Err(NameError(format!(
                "`{file}`: the file name maps to `{out}`, which is a Rust keyword; \
             rename the file"
            )))
        }
        Some(_) => Ok(out),
    }
}

/// The snake_case of a file stem: words split on `_`, `-` and case
/// changes, lower-cased and joined by `_`.
pub fn snake_case(stem: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for part in stem.split(['_', '-']).filter(|p| !p.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
            let next = chars.get(i + 1).copied();
            let boundary = c.is_ascii_uppercase()
                && match prev {
                    Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                    Some(p) if p.is_ascii_uppercase() => {
                        next.is_some_and(|n| n.is_ascii_lowercase())
                    }
                    _ => false,
                };
            if boundary && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words.join("_")
}

/// The typed call function of the script with this stem (a raw
/// identifier for a keyword, e.g. `r#loop`).
pub fn fn_name(stem: &str, file: &str) -> Result<String, NameError> {
    let snake = snake_case(stem);
    rust_ident(&snake).map_err(|why| {
        NameError(format!(
            "`{file}`: the name of its typed call function, `{snake}`, {why}; rename the file"
        ))
    })
}

/// Reports every typed call function name that more than one file maps
/// to. `entries` are `(file, function)` pairs.
pub fn fn_collisions<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, Vec<String>)> {
    clashes(entries)
        .into_iter()
        .map(|clash| {
            (
                format!(
                    "{} {} get the typed call function `{}`; rename {} of them",
                    clash.list, clash.all, clash.name, clash.but
                ),
                clash.files.iter().map(|f| (*f).to_owned()).collect(),
            )
        })
        .collect()
}

/// Files that map to one name, and the words to describe them.
struct Clash<'a> {
    name: &'a str,
    files: Vec<&'a str>,
    /// `` `a.lua` and `b.lua` ``
    list: String,
    /// "both" or "all"
    all: &'static str,
    /// "one" or "all but one"
    but: &'static str,
}

/// Groups `(file, name)` pairs by name and keeps the names that more than
/// one file maps to, in name order.
fn clashes<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Clash<'a>> {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (file, name) in entries {
        by_name.entry(name).or_default().push(file);
    }
    by_name
        .into_iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| {
            let list = files
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            let (all, but) = if files.len() == 2 {
                ("both", "one")
            } else {
                ("all", "all but one")
            };
            Clash {
                name,
                files,
                list,
                all,
                but,
            }
        })
        .collect()
}

/// The snake_case file stem that maps to `variant`: the suggestion shown
/// when a `#[derive(Scripts)]` variant has no file.
pub fn suggested_stem(variant: &str) -> String {
    let mut out = String::with_capacity(variant.len() + 4);
    let mut prev_lower = false;
    for c in variant.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// Reports every variant name that more than one file maps to. `entries`
/// are `(file, variant)` pairs; one message per clashing variant.
pub fn collisions<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    clashes(entries)
        .into_iter()
        .map(|clash| {
            format!(
                "{} {} map to the variant `{}`; rename {} of them \
                 (`_` and `-` both separate words, so `a_b.lua` and `a-b.lua` clash)",
                clash.list, clash.all, clash.name, clash.but
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        // (stem, Ok(variant) or Err(part of the message))
        let table: &[(&str, Result<&str, &str>)] = &[
            ("rate_limit", Ok("RateLimit")),
            ("rate-limit", Ok("RateLimit")),
            ("RateLimit", Ok("RateLimit")),
            ("getMany", Ok("GetMany")),
            ("a", Ok("A")),
            ("lock_acquire_v2", Ok("LockAcquireV2")),
            ("v2_1", Ok("V21")),
            ("__x__y", Ok("XY")),
            ("_private", Ok("Private")),
            ("loop", Ok("Loop")),
            ("name", Ok("Name")),
            ("read_only", Ok("ReadOnly")),
            ("self", Err("which is a Rust keyword; rename the file")),
            ("Self", Err("which is a Rust keyword")),
            ("_self", Err("which is a Rust keyword")),
            (
                "1st",
                Err("starts with a digit; rename the file so its stem starts with a letter"),
            ),
            ("_1st", Err("maps to `1st`, which starts with a digit")),
            ("2", Err("starts with a digit")),
            ("_", Err("maps to an empty variant name")),
            ("-_-", Err("maps to an empty variant name")),
            ("a.b", Err("contains '.'")),
            ("a b", Err("contains ' '")),
            ("héllo", Err("contains 'é'")),
        ];
        for (stem, want) in table {
            let got = variant_name(stem, &format!("lua/{stem}.lua"));
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "stem {stem:?}"),
                (Err(w), Err(NameError(g))) => {
                    assert!(g.contains(w), "stem {stem:?}: {g:?} lacks {w:?}");
                    assert!(g.contains(&format!("`lua/{stem}.lua`")), "{g}");
                }
                _ => panic!("stem {stem:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    /// `(file, variant)` pairs and the messages they must produce.
    type CollisionCase = (
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );

    #[test]
    fn collision_table() {
        let table: &[CollisionCase] = &[
            (&[("a.lua", "A"), ("b.lua", "B")], &[]),
            (
                &[
                    ("rate-limit.lua", "RateLimit"),
                    ("rate_limit.lua", "RateLimit"),
                ],
                &[
                    "`rate-limit.lua` and `rate_limit.lua` both map to the variant `RateLimit`; rename one of them",
                ],
            ),
            (
                &[
                    ("a_b.lua", "AB"),
                    ("a-b.lua", "AB"),
                    ("AB.lua", "AB"),
                    ("x.lua", "X"),
                    ("X.lua", "X"),
                ],
                &[
                    "`a_b.lua` and `a-b.lua` and `AB.lua` all map to the variant `AB`; rename all but one",
                    "`x.lua` and `X.lua` both map to the variant `X`",
                ],
            ),
        ];
        for (entries, want) in table {
            let got = collisions(entries.iter().copied());
            assert_eq!(got.len(), want.len(), "{got:?}");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(g.contains(w), "{g:?} lacks {w:?}");
                assert!(g.contains("rename "), "{g}");
            }
        }
    }

    #[test]
    fn function_names() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("rate_limit", Ok("rate_limit")),
            ("rate-limit", Ok("rate_limit")),
            ("RateLimit", Ok("rate_limit")),
            ("rateLimit", Ok("rate_limit")),
            ("HTTPGet", Ok("http_get")),
            ("lock_acquire_v2", Ok("lock_acquire_v2")),
            ("getV2Items", Ok("get_v2_items")),
            ("v2_1", Ok("v2_1")),
            ("__x__y", Ok("x_y")),
            ("name", Ok("name")),
            ("read_only", Ok("read_only")),
            ("loop", Ok("r#loop")),
            ("Type", Ok("r#type")),
            ("gen", Ok("r#gen")),
            ("async", Ok("r#async")),
            ("union", Ok("union")),
            (
                "super",
                Err("`super`, is the keyword `super`, which cannot be a raw identifier"),
            ),
            ("crate", Err("the keyword `crate`")),
            ("Self", Err("the keyword `self`")),
        ];
        for (stem, want) in table {
            let got = fn_name(stem, &format!("lua/{stem}.lua"));
            match (want, &got) {
                (Ok(w), Ok(g)) => {
                    assert_eq!(w, g, "stem {stem:?}");
                    let bare = g.strip_prefix("r#").unwrap_or(g);
                    assert_eq!(rust_ident(bare).as_deref(), Ok(g.as_str()), "{g}");
                }
                (Err(w), Err(NameError(g))) => {
                    assert!(g.contains(w), "stem {stem:?}: {g:?} lacks {w:?}");
                    assert!(g.contains("rename the file"), "{g}");
                }
                _ => panic!("stem {stem:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn identifiers() {
        assert_eq!(rust_ident("bucket").as_deref(), Ok("bucket"));
        assert_eq!(rust_ident("now_ms2").as_deref(), Ok("now_ms2"));
        assert_eq!(rust_ident("type").as_deref(), Ok("r#type"));
        assert_eq!(rust_ident("_x").as_deref(), Ok("_x"));
        for (bad, why) in [
            ("", "is empty"),
            ("2x", "starts with a digit"),
            ("a-b", "contains '-'"),
            ("_", "is `_`"),
            ("self", "cannot be a raw identifier"),
        ] {
            let e = rust_ident(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn function_collisions() {
        let got = fn_collisions([
            ("HTTPGet.lua", "http_get"),
            ("http_get.lua", "http_get"),
            ("a.lua", "a"),
        ]);
        assert_eq!(got.len(), 1);
        assert!(got[0].0.contains("`HTTPGet.lua` and `http_get.lua` both get the typed call function `http_get`; rename one of them"), "{got:?}");
        assert_eq!(got[0].1, ["HTTPGet.lua", "http_get.lua"]);
    }

    #[test]
    fn suggestions_round_trip() {
        for (variant, stem) in [
            ("RateLimit", "rate_limit"),
            ("A", "a"),
            ("LockAcquireV2", "lock_acquire_v2"),
            ("GetMany", "get_many"),
        ] {
            assert_eq!(suggested_stem(variant), stem);
            assert_eq!(variant_name(stem, "f").as_deref(), Ok(variant));
        }
    }
}
