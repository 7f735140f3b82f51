//! Finding the script folder and reading its files: the one reader behind
//! the macros and the command line.
//!
//! Only the top-level `*.lua` files of the folder are scripts (lower-case
//! extension), taken in sorted file-name order. Subfolders (they hold
//! snippets for includes), dotfiles and files with any other extension are
//! ignored; a file whose extension is `lua` in another case (`x.LUA`,
//! `x.Lua`) is not a script either, but gets a warning
//! ([`other_case_scripts`]), as it most likely was meant to be one.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::Diagnostic;
use crate::diagnostic::Severity;
use crate::servers::{self, Config};

/// The folder as the user wrote it and where it is on disk.
#[derive(Debug, Clone)]
pub struct Folder {
    /// As written by the user (the macro's literal, the command line's
    /// argument), e.g. `"lua/"`.
    pub written: String,
    /// Where it is: `written` joined to the base it is relative to (the
    /// crate's `CARGO_MANIFEST_DIR` for the macros, the current directory
    /// for the command line).
    pub abs: PathBuf,
    /// What `written` is relative to, for messages: "the crate's manifest
    /// directory (the folder with Cargo.toml)" for the macros, "the current
    /// directory" for the command line.
    pub relative_to: String,
    /// What the folder's `script-cache.toml` declares (the servers the
    /// scripts run on): the default until [`read_config`] reads it.
    pub config: Config,
}

/// What the macros' folders are relative to, as messages say it.
pub const MANIFEST_DIR: &str = "the crate's manifest directory (the folder with Cargo.toml)";

impl Folder {
    /// How a file in this folder is named in messages: the folder as
    /// written, then the file (`lua/` + `a.lua` -> `lua/a.lua`).
    pub fn show(&self, file: &str) -> String {
        if self.written.is_empty() || self.written.ends_with('/') {
            format!("{}{file}", self.written)
        } else {
            format!("{}/{file}", self.written)
        }
    }
}

/// One script file read from disk.
#[derive(Debug, Clone)]
pub struct LuaFile {
    /// Relative to the folder, e.g. `rate_limit.lua` (or `locks/x.lua` for
    /// an explicit `#[script(file = ..)]`).
    pub file: String,
    /// The file stem as written, e.g. `rate_limit`.
    pub stem: String,
    /// Its path on disk (the macros give it to `include_bytes!`).
    pub abs: PathBuf,
    /// The content, when it is valid UTF-8 without a byte order mark.
    pub source: Option<String>,
}

/// Resolves the folder the user wrote against the manifest directory.
pub fn resolve(manifest_dir: &Path, written: &str) -> Result<Folder, String> {
    let rel = Path::new(written);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::Prefix(_))) {
        return Err(format!(
            "`{written}` is an absolute path; write the folder relative to the crate's \
             manifest directory (the folder with Cargo.toml), e.g. \"lua/\""
        ));
    }
    if written.is_empty() {
        return Err(
            "the folder is empty; write the script folder relative to the crate's \
                    manifest directory, e.g. \"lua/\""
                .to_owned(),
        );
    }
    let mut folder = Folder {
        written: written.to_owned(),
        abs: manifest_dir.join(rel),
        relative_to: MANIFEST_DIR.to_owned(),
        config: Config::default(),
    };
    read_config(&mut folder)?;
    Ok(folder)
}

/// Reads the folder's optional `script-cache.toml` into `folder.config`
/// (see [`crate::servers`]); a folder that does not exist has none.
pub fn read_config(folder: &mut Folder) -> Result<(), String> {
    folder.config = servers::load(&folder.abs, &folder.written)?;
    Ok(())
}

/// The top-level `.lua` file names of `folder`, sorted. Errors (missing
/// folder, non-UTF-8 names) are pushed to `errors`.
pub fn list(folder: &Folder, errors: &mut Vec<Diagnostic>) -> Vec<String> {
    let written = &folder.written;
    let entries =
        match fs::read_dir(&folder.abs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                errors.push(Diagnostic::file(
                    written,
                    format!(
                        "the script folder `{written}` does not exist; paths are relative to {}: \
                 create it or fix the path",
                        folder.relative_to
                    ),
                ));
                return Vec::new();
            }
            Err(_) if !folder.abs.is_dir() && folder.abs.exists() => {
                errors.push(Diagnostic::file(written, format!(
                "`{written}` is a file, not a folder; give the folder that holds the `.lua` \
                 files"
            )));
                return Vec::new();
            }
            Err(e) => {
                errors.push(Diagnostic::file(
                    written,
                    format!("cannot read the script folder `{written}`: {e}"),
                ));
                return Vec::new();
            }
        };
    let mut names = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(Diagnostic::file(
                    written,
                    format!("cannot read the script folder `{written}`: {e}"),
                ));
                continue;
            }
        };
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "lua") {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            errors.push(Diagnostic::file(
                written,
                format!(
                    "`{}`: the file name is not valid UTF-8; rename the file using only ASCII \
                 letters, digits, `_` and `-`",
                    folder.show(&entry.file_name().to_string_lossy())
                ),
            ));
            continue;
        };
        // Follows symlinks: a link to a folder is a folder.
        if name.starts_with('.') || path.is_dir() {
            continue;
        }
        names.push(name);
    }
    names.sort();
    names
}

/// A warning for each top-level file of `folder` whose extension is `lua`
/// in another case (`Rate.LUA`, `x.Lua`): it is not a script (only `.lua`
/// is, on every file system), which is easy to miss. Sorted by name; an
/// unreadable folder gives none (`list` reports it).
pub fn other_case_scripts(folder: &Folder) -> Vec<Diagnostic> {
    let Ok(entries) = fs::read_dir(&folder.abs) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| !name.starts_with('.'))
        .filter(|name| {
            Path::new(name)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e != "lua" && e.eq_ignore_ascii_case("lua"))
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let stem = &name[..name.len() - ".lua".len()];
            let shown = folder.show(name);
            Diagnostic::file(
                &shown,
                format!(
                    "`{shown}` is not a script: only files ending in `.lua` (lower case) are; \
                     rename it to `{stem}.lua` to embed it, or move it out of the script folder"
                ),
            )
            .with_severity(Severity::Warning)
        })
        .collect()
}

/// Reads one script, relative to `folder`. Problems with the content (not
/// UTF-8, byte order mark) are pushed to `errors`; the file is still
/// returned so its variant exists and errors do not cascade.
pub fn read(folder: &Folder, file: &str, errors: &mut Vec<Diagnostic>) -> Option<LuaFile> {
    let shown = folder.show(file);
    let abs = folder.abs.join(file);
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let bytes = match fs::read(&abs) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            errors.push(Diagnostic::file(
                &shown,
                format!(
                    "`{shown}` does not exist; paths are relative to the script folder `{}`",
                    folder.written
                ),
            ));
            return None;
        }
        Err(e) => {
            errors.push(Diagnostic::file(
                &shown,
                format!("cannot read `{shown}`: {e}"),
            ));
            return None;
        }
    };
    let source = match check_content(&bytes) {
        Ok(()) => String::from_utf8(bytes).ok(),
        Err(e) => {
            errors.push(
                Diagnostic::new(&shown, e.line, Some(e.column), e.message).with_source(&bytes),
            );
            None
        }
    };
    Some(LuaFile {
        file: file.to_owned(),
        stem,
        abs,
        source,
    })
}

/// Reads a snippet for `-- @include`, relative to `folder`.
pub fn read_snippet(folder: &Folder, rel: &str) -> Result<String, crate::include::ReadError> {
    use crate::include::ReadError;
    let abs = folder.abs.join(rel);
    if abs.is_dir() {
        return Err(ReadError::Other(
            ": it is a folder; include a `.lua` file".to_owned(),
        ));
    }
    let bytes = match fs::read(&abs) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::Missing(similar(folder, rel)));
        }
        Err(e) => return Err(ReadError::Other(format!(": {e}"))),
    };
    check_content(&bytes)
        .map_err(|e| ReadError::Other(format!(":{}:{}: {}", e.line, e.column, e.message)))?;
    String::from_utf8(bytes)
        .map_err(|_| ReadError::Other(": the file is not valid UTF-8".to_owned()))
}

/// Files of the folder of `rel` whose name is close to it ("did you
/// mean", by [`crate::similar`] on the names without `.lua`); paths
/// relative to the script folder.
fn similar(folder: &Folder, rel: &str) -> Vec<String> {
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let Ok(entries) = fs::read_dir(folder.abs.join(dir)) else {
        return Vec::new();
    };
    let want = name.strip_suffix(".lua").unwrap_or(name);
    let stems: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".lua").map(str::to_owned))
        .collect();
    crate::similar(want, stems.iter().map(String::as_str))
        .into_iter()
        .map(|stem| {
            if dir.is_empty() {
                format!("{stem}.lua")
            } else {
                format!("{dir}/{stem}.lua")
            }
        })
        .collect()
}

/// Why a file's bytes cannot be a script: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    /// The 1-based line, as Lua counts lines (a bare CR ends one).
    pub line: u32,
    /// The 1-based column, in characters.
    pub column: u32,
    /// What is wrong and the fix.
    pub message: String,
}

/// Checks that a script's bytes are UTF-8 without a byte order mark.
pub fn check_content(bytes: &[u8]) -> Result<(), ContentError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(ContentError {
            line: 1,
            column: 1,
            message: "the file starts with a UTF-8 byte order mark, which Lua cannot parse \
                      and which would change the SHA-1; save the file as UTF-8 without BOM"
                .to_owned(),
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) => {
            // Lines and columns as Lua counts them (a bare CR ends a line).
            let lexed = crate::lex::lex(bytes);
            let at = e.valid_up_to();
            let line = lexed.line_starts.partition_point(|&start| start <= at);
            let line = u32::try_from(line.max(1)).unwrap_or(u32::MAX);
            Err(ContentError {
                line,
                column: lexed.column(bytes, line, at),
                message: "the file is not valid UTF-8; save it as UTF-8 (Redis scripts are \
                          text)"
                    .to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(dir: &Path) -> Folder {
        Folder {
            written: "lua/".to_owned(),
            abs: dir.to_owned(),
            relative_to: MANIFEST_DIR.to_owned(),
            config: Config::default(),
        }
    }

    #[test]
    fn resolves_relative_and_refuses_absolute() {
        let f = resolve(Path::new("/crate"), "lua/").unwrap();
        assert_eq!(f.abs, Path::new("/crate/lua/"));
        assert_eq!(f.show("a.lua"), "lua/a.lua");
        let f = resolve(Path::new("/crate"), "../lua").unwrap();
        assert_eq!(f.show("a.lua"), "../lua/a.lua");
        let e = resolve(Path::new("/crate"), "/etc/lua").unwrap_err();
        assert!(e.contains("`/etc/lua` is an absolute path"), "{e}");
        assert!(resolve(Path::new("/crate"), "").is_err());
    }

    #[test]
    fn lists_only_top_level_lua_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for f in ["b.lua", "a.lua", ".hidden.lua", "notes.txt", "x.LUA", "lua"] {
            fs::write(p.join(f), "return 1").unwrap();
        }
        fs::create_dir(p.join("lib")).unwrap();
        fs::write(p.join("lib/util.lua"), "return 1").unwrap();
        fs::create_dir(p.join("dir.lua")).unwrap();
        let mut errors = Vec::new();
        assert_eq!(list(&folder(p), &mut errors), ["a.lua", "b.lua"]);
        assert!(errors.is_empty(), "{errors:?}");
        // `x.LUA` is not a script, but it is named in a warning.
        fs::write(p.join("y.Lua"), "return 1").unwrap();
        fs::create_dir(p.join("sub.LUA")).unwrap();
        let warnings = other_case_scripts(&folder(p));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0]
                .message
                .starts_with("`lua/x.LUA` is not a script"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].message.contains("rename it to `y.lua`"),
            "{warnings:?}"
        );
    }

    #[test]
    fn missing_folder_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut errors = Vec::new();
        assert!(list(&folder(&dir.path().join("nope")), &mut errors).is_empty());
        assert!(
            errors[0].message.contains("`lua/` does not exist"),
            "{errors:?}"
        );
        fs::write(dir.path().join("f"), "").unwrap();
        assert!(list(&folder(&dir.path().join("f")), &mut errors).is_empty());
        assert!(
            errors[1].message.contains("is a file, not a folder"),
            "{errors:?}"
        );
        assert!(read(&folder(dir.path()), "x.lua", &mut errors).is_none());
        assert!(
            errors[2].message.contains("`lua/x.lua` does not exist"),
            "{errors:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_name() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xFF.lua");
        fs::write(dir.path().join(name), "return 1").unwrap();
        fs::write(
            dir.path().join(std::ffi::OsStr::from_bytes(b"\xFF.txt")),
            "",
        )
        .unwrap();
        let mut errors = Vec::new();
        assert!(list(&folder(dir.path()), &mut errors).is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .message
                .contains("`lua/bad\u{FFFD}.lua`: the file name is not valid UTF-8")
        );
    }

    #[test]
    fn snippets() {
        use crate::include::ReadError;
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("lib")).unwrap();
        fs::write(dir.path().join("lib/u.lua"), "return 1").unwrap();
        fs::write(dir.path().join("lib/bom.lua"), b"\xEF\xBB\xBFreturn 1").unwrap();
        let f = folder(dir.path());
        assert_eq!(read_snippet(&f, "lib/u.lua").as_deref(), Ok("return 1"));
        assert_eq!(
            read_snippet(&f, "lib/x.lua"),
            Err(ReadError::Missing(vec![]))
        );
        assert_eq!(
            read_snippet(&f, "lib/U.lua"),
            Err(ReadError::Missing(vec!["lib/u.lua".to_owned()]))
        );
        assert!(
            matches!(read_snippet(&f, "lib"), Err(ReadError::Other(m)) if m.contains("folder"))
        );
        assert!(
            matches!(read_snippet(&f, "lib/bom.lua"), Err(ReadError::Other(m)) if m.contains("byte order mark"))
        );
    }

    #[test]
    fn content_checks() {
        assert!(check_content(b"return 1").is_ok());
        assert!(check_content(b"").is_ok());
        let bom = check_content(b"\xEF\xBB\xBFreturn 1").unwrap_err();
        assert!(bom.message.contains("byte order mark"), "{bom:?}");
        assert_eq!((bom.line, bom.column), (1, 1));
        let bad = check_content(b"-- caf\xE9\nreturn 1").unwrap_err();
        assert_eq!((bad.line, bad.column), (1, 7), "{bad:?}");
        let bad = check_content(b"return 1\n\nlocal \xC3\xA9\xFF = 1").unwrap_err();
        assert_eq!((bad.line, bad.column), (3, 8), "{bad:?}");
        let bad = check_content(b"-- a\rb \xFF").unwrap_err();
        assert_eq!((bad.line, bad.column), (2, 3), "{bad:?}");
    }
}
