//! File stem -> variant name.
//!
//! A stem maps to UpperCamelCase by splitting on `_` and `-` and upper-casing
//! the first letter of each part (the rest is kept as written):
//! `rate_limit` and `rate-limit` both become `RateLimit`, `getMany` becomes
//! `GetMany`. Stems may use ASCII letters, digits, `_` and `-` only; the
//! mapped name must start with a letter and be a Rust identifier (`self`
//! maps to the keyword `Self` and is refused).

use std::collections::BTreeMap;

/// Why a stem cannot name a variant. The message names the file and says
/// how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameError(pub(crate) String);

/// Maps a file stem to the variant identifier it names.
pub(crate) fn variant_name(stem: &str, file: &str) -> Result<String, NameError> {
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
        Some(_) if syn::parse_str::<syn::Ident>(&out).is_err() => Err(NameError(format!(
            "`{file}`: the file name maps to `{out}`, which is a Rust keyword; \
             rename the file"
        ))),
        Some(_) => Ok(out),
    }
}

/// The snake_case file stem that maps to `variant`: the suggestion shown
/// when a `#[derive(Scripts)]` variant has no file.
pub(crate) fn suggested_stem(variant: &str) -> String {
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
pub(crate) fn collisions<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut by_variant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (file, variant) in entries {
        by_variant.entry(variant).or_default().push(file);
    }
    by_variant
        .into_iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(variant, files)| {
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
            format!(
                "{list} {all} map to the variant `{variant}`; rename {but} of them \
                 (`_` and `-` both separate words, so `a_b.lua` and `a-b.lua` clash)"
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
