//! The `#!lua [flags=a,b]` first line, as Redis 7 and Valkey read it on
//! `SCRIPT LOAD` (Redis 6.2 has no shebang: the runtime sends it the line
//! as a `--!` comment).

/// Shebang flags Redis 7 and Valkey understand for `EVAL` scripts.
pub const KNOWN_FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A parsed `#!lua [flags=a,b]` first line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shebang {
    /// The flags, in the order written.
    pub flags: Vec<String>,
}

/// A shebang the servers refuse: the 1-based column on line 1 and a
/// message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShebangError {
    /// 1-based column (in characters) on line 1.
    pub column: u32,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One argument of the shebang line, split as Redis splits it
/// (`sdssplitargs`): its bytes and the byte offset where it starts.
struct Word {
    bytes: Vec<u8>,
    at: usize,
}

/// `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Splits `line` like Redis's `sdssplitargs`: blanks (C `isspace`) before
/// a word are skipped; a word ends at a space, tab, CR or LF; `"..."` takes
/// `\n`, `\xHH`-style escapes, `'...'` takes `\'`; a closing quote must be
/// followed by a blank. `Err(offset)` for an unbalanced quote.
fn split_args(line: &[u8]) -> Result<Vec<Word>, usize> {
    let mut words = Vec::new();
    let mut p = 0;
    loop {
        while line.get(p).copied().is_some_and(is_c_space) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(words);
        }
        let at = p;
        let mut bytes = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = line.get(p).copied();
            if in_double {
                match (c, line.get(p + 1).copied()) {
                    (Some(b'\\'), Some(b'x'))
                        if line.get(p + 2).copied().and_then(hex).is_some()
                            && line.get(p + 3).copied().and_then(hex).is_some() =>
                    {
                        let hi = line.get(p + 2).copied().and_then(hex).unwrap_or(0);
                        let lo = line.get(p + 3).copied().and_then(hex).unwrap_or(0);
                        bytes.push(hi * 16 + lo);
                        p += 3;
                    }
                    (Some(b'\\'), Some(next)) => {
                        bytes.push(match next {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        p += 1;
                    }
                    (Some(b'"'), after) => {
                        if after.is_some_and(|a| !is_c_space(a)) {
                            return Err(p);
                        }
                        p += 1;
                        break;
                    }
                    (None, _) => return Err(at),
                    (Some(other), _) => bytes.push(other),
                }
            } else if in_single {
                match (c, line.get(p + 1).copied()) {
                    (Some(b'\\'), Some(b'\'')) => {
                        bytes.push(b'\'');
                        p += 1;
                    }
                    (Some(b'\''), after) => {
                        if after.is_some_and(|a| !is_c_space(a)) {
                            return Err(p);
                        }
                        p += 1;
                        break;
                    }
                    (None, _) => return Err(at),
                    (Some(other), _) => bytes.push(other),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => bytes.push(other),
                }
            }
            p += 1;
        }
        words.push(Word { bytes, at });
    }
}

/// 1-based column (in characters) of byte offset `at` of line 1.
fn column(source: &[u8], at: usize) -> u32 {
    let chars = String::from_utf8_lossy(source.get(..at).unwrap_or(source))
        .chars()
        .count();
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// Parses the shebang of `source` as Redis 7 and Valkey do on `SCRIPT
/// LOAD`: `Ok(None)` when the first line does not start with `#!`.
///
/// The line runs to the first `\n` (a NUL before it, or no `\n` at all, is
/// refused, as the servers do), is split into words like Redis's command
/// line (quotes allowed), the first word must be `#!lua`, and every other
/// word `flags=a,b` with flags the servers know (given more than once, the
/// flags add up). Valkey also takes `#!LUA`; Redis 7 does not, so neither
/// does this.
pub fn parse(source: &[u8]) -> Result<Option<Shebang>, ShebangError> {
    if !source.starts_with(b"#!") {
        return Ok(None);
    }
    let end = source.iter().position(|&b| b == b'\n' || b == 0);
    let line = match end {
        Some(end) if source.get(end) == Some(&b'\n') => &source[..end],
        _ => {
            let at = end.unwrap_or(source.len());
            return Err(ShebangError {
                column: column(source, at),
                message: "the `#!` shebang line must end with a newline, and hold no NUL byte \
                          (the servers refuse it with \"Invalid script shebang\"): add a line \
                          break after it"
                    .to_owned(),
            });
        }
    };
    let words = split_args(line).map_err(|at| ShebangError {
        column: column(source, at),
        message: "unbalanced quotes in the shebang (the servers refuse it with \"Invalid \
                  engine in script shebang\"); write `#!lua flags=no-writes`"
            .to_owned(),
    })?;
    let err = |word: &Word, message: String| ShebangError {
        column: column(source, word.at),
        message,
    };
    let Some((engine, options)) = words.split_first() else {
        return Err(ShebangError {
            column: 1,
            message: "the shebang names no engine; write `#!lua`".to_owned(),
        });
    };
    if engine.bytes != b"#!lua" {
        let shown = String::from_utf8_lossy(&engine.bytes);
        let message = if engine.bytes == b"#!" {
            "the shebang names no engine; write `#!lua` (no blank between `#!` and `lua`, \
             optionally followed by ` flags=no-writes,...`) or remove the line"
                .to_owned()
        } else {
            format!(
                "unknown script engine `{}` in the shebang; only `#!lua` is supported (e.g. \
                 `#!lua flags=no-writes`)",
                shown.trim_start_matches("#!")
            )
        };
        return Err(err(engine, message));
    }
    let mut flags: Vec<String> = Vec::new();
    for word in options {
        let Some(list) = word.bytes.strip_prefix(b"flags=") else {
            let shown = String::from_utf8_lossy(&word.bytes);
            let key = shown.split('=').next().unwrap_or(&shown).to_owned();
            return Err(err(
                word,
                format!(
                    "unknown shebang option `{key}`; scripts accept only `flags=` (with any \
                     of: {})",
                    KNOWN_FLAGS.join(", ")
                ),
            ));
        };
        if list.is_empty() {
            continue;
        }
        let mut offset = 0;
        for flag in list.split(|&b| b == b',') {
            let flag_at = offset;
            offset += flag.len() + 1;
            let Some(known) = KNOWN_FLAGS.iter().find(|k| k.as_bytes() == flag) else {
                // Point at the flag itself when the word is written plainly.
                let quoted = matches!(line.get(word.at), Some(b'"' | b'\''));
                let at = if quoted {
                    word.at
                } else {
                    word.at + "flags=".len() + flag_at
                };
                return Err(ShebangError {
                    column: column(source, at),
                    message: format!(
                        "unknown shebang flag `{}`; the flags Redis knows are: {}",
                        String::from_utf8_lossy(flag),
                        KNOWN_FLAGS.join(", ")
                    ),
                });
            };
            if !flags.iter().any(|f| f == known) {
                flags.push((*known).to_owned());
            }
        }
    }
    Ok(Some(Shebang { flags }))
}

/// Whether `name` is a name the servers take for a library or a function:
/// letters, digits and underscores, at least one.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The library name of a function library's first line, `#!lua
/// name=<library>` (Redis 7.0+ and Valkey load such a file with
/// `FUNCTION LOAD`): `None` when the first line names no library (a
/// script), an error when it does but the servers would refuse it (a name
/// that is not letters, digits and underscores, another option next to
/// it).
pub fn library_name(source: &[u8]) -> Option<Result<String, ShebangError>> {
    // A first line with a NUL byte is no shebang the servers take (the
    // shebang's own check says so); `split_args` reads none.
    let end = source.iter().position(|&b| b == b'\n' || b == 0)?;
    if source[end] != b'\n' {
        return None;
    }
    let line = source.get(..end)?;
    if !line.starts_with(b"#!lua") {
        return None;
    }
    let words = split_args(line).ok()?;
    let (engine, options) = words.split_first()?;
    if engine.bytes != b"#!lua" {
        return None;
    }
    let named = options.iter().find(|w| w.bytes.starts_with(b"name="))?;
    let err = |word: &Word, message: String| {
        Some(Err(ShebangError {
            column: column(source, word.at),
            message,
        }))
    };
    if let Some(other) = options.iter().find(|w| !w.bytes.starts_with(b"name=")) {
        let shown = String::from_utf8_lossy(&other.bytes);
        return err(
            other,
            format!(
                "`{shown}`: a library's shebang takes only `name=<library>` (its functions \
                 take their flags in `redis.register_function`); remove it"
            ),
        );
    }
    if options.len() > 1 {
        return err(
            named,
            "the library name is given twice; keep one `name=`".to_owned(),
        );
    }
    let name = String::from_utf8_lossy(&named.bytes["name=".len()..]).into_owned();
    if !valid_name(&name) {
        return err(
            named,
            format!(
                "`{name}` is not a library name the servers accept (letters, digits and \
                 underscores, at least one: \"Library names can only contain letters, numbers, \
                 or underscores(_) and must be at least one character long\"); rename it"
            ),
        );
    }
    Some(Ok(name))
}

/// The shebang line made into a Lua comment (`#!lua` -> `--!lua`), for
/// servers without shebang support. Same number of lines.
pub fn legacy_source(source: &str) -> Option<String> {
    source.strip_prefix("#!").map(|rest| format!("--!{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_in_the_first_line_names_no_library() {
        assert!(library_name(b"#!lua name=a\0 b\nreturn 1").is_none());
        assert!(library_name(b"#!lua \0\n").is_none());
        assert!(parse(b"#!lua name=a\0 b\nreturn 1").is_err());
    }

    #[test]
    fn shebang_table() {
        let ok: &[(&str, Option<&[&str]>)] = &[
            ("return 1", None),
            ("-- #!lua\nreturn 1", None),
            ("#!lua\nreturn 1", Some(&[])),
            ("#!lua\r\nreturn 1", Some(&[])),
            ("#!lua flags=\nreturn 1", Some(&[])),
            ("#!lua flags=no-writes\n", Some(&["no-writes"])),
            (
                "#!lua  flags=no-writes,allow-stale \n",
                Some(&["no-writes", "allow-stale"]),
            ),
            (
                "#!lua flags=no-writes flags=allow-oom\n",
                Some(&["no-writes", "allow-oom"]),
            ),
            ("#!lua \"flags=no-writes\"\n", Some(&["no-writes"])),
            ("#!lua 'flags=no-writes'\n", Some(&["no-writes"])),
            ("#!lua \"flags\\x3dno-writes\"\n", Some(&["no-writes"])),
            (
                "#!lua \x0c flags=no-writes,no-writes\n",
                Some(&["no-writes"]),
            ),
            ("#!lua\tflags=no-writes\r\n", Some(&["no-writes"])),
            (
                "#!lua flags=allow-oom,no-cluster,allow-cross-slot-keys\n",
                Some(&["allow-oom", "no-cluster", "allow-cross-slot-keys"]),
            ),
        ];
        for (src, want) in ok {
            let got = parse(src.as_bytes()).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            let got = got.map(|s| s.flags);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{src:?}");
        }
        let bad: &[(&str, &str, u32)] = &[
            (
                "#!lua flags=no-write\n",
                "unknown shebang flag `no-write`",
                13,
            ),
            (
                "#!lua flags=no-writes,,allow-oom\n",
                "unknown shebang flag ``",
                23,
            ),
            ("#!lua name=mylib\n", "unknown shebang option `name`", 7),
            ("#!python\n", "unknown script engine `python`", 1),
            (
                "#!/usr/bin/lua\n",
                "unknown script engine `/usr/bin/lua`",
                1,
            ),
            ("#!\nreturn 1", "names no engine", 1),
            ("#!  lua\nreturn 1", "names no engine", 1),
            ("#!LUA\nreturn 1", "unknown script engine `LUA`", 1),
            ("#!lua \"flags=no-writes\"x\n", "unbalanced quotes", 23),
            ("#!lua \"\n", "unbalanced quotes", 7),
            ("#!lua\0 flags=x\n", "no NUL byte", 6),
            (
                "#!lua FLAGS=no-writes\n",
                "unknown shebang option `FLAGS`",
                7,
            ),
            ("#!lua debug\n", "unknown shebang option `debug`", 7),
            ("#!lua", "must end with a newline", 6),
            ("#!lua\x0bflags=no-writes\n", "unknown script engine", 1),
        ];
        for (src, want, column) in bad {
            let e = parse(src.as_bytes()).unwrap_err();
            assert!(e.message.contains(want), "{src:?}: {e:?} lacks {want:?}");
            assert_eq!(e.column, *column, "{src:?}");
        }
    }

    #[test]
    fn legacy_keeps_lines() {
        assert_eq!(legacy_source("return 1"), None);
        let src = "#!lua flags=no-writes\nreturn 1\n";
        let legacy = legacy_source(src).unwrap();
        assert_eq!(legacy, "--!lua flags=no-writes\nreturn 1\n");
        #[cfg(feature = "lua")]
        assert_eq!(crate::check_syntax(legacy.as_bytes()), Ok(()));
    }
}
