//! Versioned function libraries (`functions = "versioned"` in a folder's
//! `script-cache.toml`): the names a library and its functions get on the
//! server carry the library's content hash, so two versions of one
//! library (a rolling deploy) live side by side on a server and each
//! process calls its own.
//!
//! # The scheme
//!
//! * The library's **version** is the first [`VERSION_LEN`] (12) hex
//!   digits, lower case, of the SHA-1 of the library's source as written,
//!   with its includes expanded (before any renaming): [`version_of`].
//! * The library `counters` is loaded as `counters_v<version>` and each
//!   function `bump` it registers as `bump_v<version>`
//!   ([`versioned_name`]): letters, digits and underscores, as the servers
//!   require of both kinds of names.
//! * The code sent is the expanded source with the `name=` of its `#!lua`
//!   line and each registration's name literal rewritten in place
//!   ([`rewrite`]); no line is added or removed, so the line numbers of
//!   the servers' error messages are those of the file.
//!
//! The macros and the command line both call [`rewrite`] (through the
//! folder analysis), so a binary and `script-cache verify`/`prune` agree
//! on every name.

/// How many hex digits of the SHA-1 a version has.
pub const VERSION_LEN: usize = 12;

/// The version of a library: the first [`VERSION_LEN`] hex digits of the
/// SHA-1 of `source` (the library as written, includes expanded).
pub fn version_of(source: &str) -> String {
    let mut sha = crate::sha1_hex(source);
    sha.truncate(VERSION_LEN);
    sha
}

/// The name `name` (a library's or a function's) gets on the server in
/// version `version`: `<name>_v<version>`.
pub fn versioned_name(name: &str, version: &str) -> String {
    format!("{name}_v{version}")
}

/// The version in `server_name` when it is `<name>_v<version>` (a version
/// being [`VERSION_LEN`] lowercase hex digits), `None` for any other
/// name: what tells a versioned library of `name` from every other
/// library on a server.
pub fn version_in<'a>(server_name: &'a str, name: &str) -> Option<&'a str> {
    let version = server_name.strip_prefix(name)?.strip_prefix("_v")?;
    (version.len() == VERSION_LEN
        && version
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(version)
}

/// A library with its versioned names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The version ([`version_of`] the source as written).
    pub version: String,
    /// The library's name on the server.
    pub library: String,
    /// Each function's name on the server, in the order given.
    pub functions: Vec<String>,
    /// The code to send: the source with those names written in.
    pub code: String,
}

/// Renames a library for versioned mode: `source` is the library as
/// written (includes expanded, `#!lua name=<library>` first line),
/// `functions` each registered function's name and the byte range of its
/// name's string literal in `source` (quotes or long brackets included,
/// as `library::Function::name_span` gives it).
///
/// A quoted literal is replaced by `'<name>_v<version>'`; a long-bracket
/// literal (`[[bump]]`) gets `_v<version>` before its closing bracket.
/// Lines stay where they are. An error when a range is not a string
/// literal of `source` or the first line names no `library` (the readers
/// that give them make neither happen).
pub fn rewrite(
    source: &str,
    library: &str,
    functions: &[(&str, (usize, usize))],
) -> Result<Versioned, String> {
    let version = version_of(source);
    let library_name = versioned_name(library, &version);
    // (start, end, replacement), applied from the last.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let first_line = &source[..source.find('\n').unwrap_or(source.len())];
    let option = format!("name={library}");
    let at = first_line
        .match_indices(&option)
        .map(|(i, _)| i)
        .find(|&i| {
            let before = first_line[..i].chars().next_back();
            let after = first_line[i + option.len()..].chars().next();
            before.is_some_and(char::is_whitespace) && after.is_none_or(char::is_whitespace)
        })
        .filter(|_| first_line.starts_with("#!lua"))
        .ok_or_else(|| {
            format!("the first line of the library is no `#!lua name={library}` line")
        })?;
    edits.push((at, at + option.len(), format!("name={library_name}")));
    let mut names = Vec::with_capacity(functions.len());
    for (name, (start, end)) in functions {
        let new = versioned_name(name, &version);
        let token = source
            .get(*start..*end)
            .ok_or_else(|| format!("the name of `{name}` is not at {start}..{end}"))?;
        let edit = if (token.starts_with('\'') || token.starts_with('"')) && token.len() >= 2 {
            (*start, *end, format!("'{new}'"))
        } else if token.starts_with('[') && token.ends_with(']') {
            let level = token[1..].bytes().take_while(|&b| b == b'=').count();
            let close = end - (level + 2);
            (close, close, format!("_v{version}"))
        } else {
            return Err(format!(
                "the name of `{name}` is not a string literal (`{token}`)"
            ));
        };
        edits.push(edit);
        names.push(new);
    }
    edits.sort_by_key(|e| e.0);
    if edits.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err("two names of the library overlap".to_owned());
    }
    let mut code = source.to_owned();
    for (start, end, text) in edits.iter().rev() {
        code.replace_range(*start..*end, text);
    }
    Ok(Versioned {
        version,
        library: library_name,
        functions: names,
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(source: &str, literal: &str) -> (usize, usize) {
        let start = source.find(literal).unwrap();
        (start, start + literal.len())
    }

    #[test]
    fn names_and_versions() {
        let v = version_of("return 1");
        assert_eq!(v, "e0e1f9fabfc9");
        assert_eq!(versioned_name("bump", &v), "bump_ve0e1f9fabfc9");
        assert_eq!(
            version_in("counters_ve0e1f9fabfc9", "counters"),
            Some("e0e1f9fabfc9")
        );
        for other in [
            "counters",
            "counters_v",
            "counters_ve0e1f9fabfc",
            "counters_ve0e1f9fabfc99",
            "counters_vE0E1F9FABFC9",
            "counters_vg0e1f9fabfc9",
            "counters2_ve0e1f9fabfc9",
            "xcounters_ve0e1f9fabfc9",
        ] {
            assert_eq!(version_in(other, "counters"), None, "{other}");
        }
    }

    #[test]
    fn rewrites_in_place_keeping_lines() {
        let src = "#!lua name=counters\n\
                   redis.register_function('bump', function(keys, args)\n\
                   \x20 return redis.call('INCRBY', keys[1], args[1])\n\
                   end)\n\
                   redis.register_function{function_name = [==[peek]==], callback = function(k) return 1 end}\n\
                   redis.register_function((\"move_by\"), function() return 'bump' end)\n";
        let fns = [
            ("bump", span(src, "'bump'")),
            ("peek", span(src, "[==[peek]==]")),
            ("move_by", span(src, "\"move_by\"")),
        ];
        let v = rewrite(src, "counters", &fns).unwrap();
        let h = version_of(src);
        assert_eq!(v.version, h);
        assert_eq!(v.library, format!("counters_v{h}"));
        assert_eq!(
            v.functions,
            [
                format!("bump_v{h}"),
                format!("peek_v{h}"),
                format!("move_by_v{h}")
            ]
        );
        let want = src
            .replacen("name=counters", &format!("name=counters_v{h}"), 1)
            .replacen("'bump'", &format!("'bump_v{h}'"), 1)
            .replace("[==[peek]==]", &format!("[==[peek_v{h}]==]"))
            .replace("\"move_by\"", &format!("'move_by_v{h}'"));
        assert_eq!(v.code, want);
        assert_eq!(v.code.lines().count(), src.lines().count());
        assert!(
            v.code.ends_with("return 'bump' end)\n"),
            "other strings stay"
        );
    }

    #[test]
    fn refuses_what_is_no_library() {
        assert!(rewrite("return 1\n", "l", &[]).is_err());
        assert!(rewrite("#!lua name=lib\n", "l", &[]).is_err());
        assert!(rewrite("#!lua name=l\nx = 1\n", "l", &[("f", (13, 14))]).is_err());
        assert!(rewrite("#!lua name=l\n", "l", &[("f", (10, 99))]).is_err());
        let ok = rewrite("#!lua  name=l  \nreturn 1\n", "l", &[]).unwrap();
        assert!(ok.code.starts_with("#!lua  name=l_v"), "{}", ok.code);
    }
}
