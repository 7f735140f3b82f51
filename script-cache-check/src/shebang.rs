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

fn column_of(line: &str, word: &str) -> u32 {
    let base = line.as_ptr() as usize;
    let at = (word.as_ptr() as usize).saturating_sub(base);
    let chars = line.get(..at).map_or(0, |p| p.chars().count());
    // `#!` comes before `line`.
    u32::try_from(chars + 3).unwrap_or(u32::MAX)
}

/// Parses the shebang of `source`: `Ok(None)` when the first line does not
/// start with `#!`.
pub fn parse(source: &str) -> Result<Option<Shebang>, ShebangError> {
    let Some(rest) = source.strip_prefix("#!") else {
        return Ok(None);
    };
    let Some(line) = rest.split('\n').next().filter(|_| rest.contains('\n')) else {
        return Err(ShebangError {
            column: u32::try_from(source.chars().count() + 1).unwrap_or(u32::MAX),
            message: "the `#!` shebang line must end with a newline (the servers refuse it \
                      with \"Invalid script shebang\"): add a line break after it"
                .to_owned(),
        });
    };
    let err = |word: &str, message: String| ShebangError {
        column: column_of(line, word),
        message,
    };
    let mut words = line.split_ascii_whitespace();
    match words.next() {
        Some("lua") => {}
        Some(engine) => {
            return Err(err(
                engine,
                format!(
                    "unknown script engine `{engine}` in the shebang; only `#!lua` is \
                     supported (e.g. `#!lua flags=no-writes`)"
                ),
            ));
        }
        None => {
            return Err(ShebangError {
                column: 3,
                message: "the shebang names no engine; write `#!lua` (optionally followed \
                          by ` flags=no-writes,...`) or remove the line"
                    .to_owned(),
            });
        }
    }
    let mut flags: Option<Vec<String>> = None;
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            let key = word.split('=').next().unwrap_or(word);
            return Err(err(
                word,
                format!(
                    "unknown shebang option `{key}`; scripts accept only `flags=` (with any \
                     of: {})",
                    KNOWN_FLAGS.join(", ")
                ),
            ));
        };
        if flags.is_some() {
            return Err(err(
                word,
                "`flags=` is given twice in the shebang; list all flags once, separated by \
                 commas"
                    .to_owned(),
            ));
        }
        let mut parsed = Vec::new();
        if !list.is_empty() {
            for flag in list.split(',') {
                if !KNOWN_FLAGS.contains(&flag) {
                    return Err(err(
                        word,
                        format!(
                            "unknown shebang flag `{flag}`; the flags Redis knows are: {}",
                            KNOWN_FLAGS.join(", ")
                        ),
                    ));
                }
                parsed.push(flag.to_owned());
            }
        }
        flags = Some(parsed);
    }
    Ok(Some(Shebang {
        flags: flags.unwrap_or_default(),
    }))
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
                "#!lua flags=allow-oom,no-cluster,allow-cross-slot-keys\n",
                Some(&["allow-oom", "no-cluster", "allow-cross-slot-keys"]),
            ),
        ];
        for (src, want) in ok {
            let got = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            let got = got.map(|s| s.flags);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{src:?}");
        }
        let bad: &[(&str, &str, u32)] = &[
            (
                "#!lua flags=no-write\n",
                "unknown shebang flag `no-write`",
                7,
            ),
            (
                "#!lua flags=no-writes,,allow-oom\n",
                "unknown shebang flag ``",
                7,
            ),
            ("#!lua name=mylib\n", "unknown shebang option `name`", 7),
            ("#!lua flags=no-writes flags=allow-oom\n", "given twice", 23),
            ("#!python\n", "unknown script engine `python`", 3),
            (
                "#!/usr/bin/lua\n",
                "unknown script engine `/usr/bin/lua`",
                3,
            ),
            ("#!\nreturn 1", "names no engine", 3),
            ("#!lua debug\n", "unknown shebang option `debug`", 7),
            ("#!lua", "must end with a newline", 6),
        ];
        for (src, want, column) in bad {
            let e = parse(src).unwrap_err();
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
        assert_eq!(crate::check_syntax(legacy.as_bytes()), Ok(()));
    }
}
