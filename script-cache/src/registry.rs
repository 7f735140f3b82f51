//! Scripts registered at run time, by name (the verbs of Perl's
//! Redis::ScriptCache).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use script_cache_check::sha1_hex;

use crate::error::{Error, Result};
use crate::handle::{DynamicScript, ScriptHandle};
use script_cache_check::servers::{self, Servers};

/// The largest script file [`register_file`](crate::ScriptState::register_file)
/// and [`register_all_scripts`](crate::ScriptState::register_all_scripts)
/// read: 1 MiB. Larger files are refused without being read.
pub const MAX_SCRIPT_FILE_BYTES: u64 = 1024 * 1024;

/// Name -> script, plus the folder relative file names resolve against.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    scripts: RwLock<BTreeMap<String, Arc<DynamicScript>>>,
    dir: RwLock<Option<PathBuf>>,
    /// The servers the lint checks registrations for: those of the
    /// `script-cache.toml` of the last folder registered from (every known
    /// server before that, or without one).
    servers: RwLock<Servers>,
}

/// What registering a name that holds another source does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnConflict {
    /// Refuse it ([`Error::NameTaken`]): `register_script` and the files.
    Refuse,
    /// Replace the registered script: `replace_script`.
    Replace,
}

impl Registry {
    pub(crate) fn get(&self, name: &str) -> Result<Arc<DynamicScript>> {
        let scripts = self.scripts.read().unwrap_or_else(PoisonError::into_inner);
        match scripts.get(name) {
            Some(s) => Ok(s.clone()),
            None => Err(Error::UnknownScript {
                name: name.to_owned(),
                similar: script_cache_check::similar(name, scripts.keys().map(String::as_str)),
            }),
        }
    }

    /// Registers `source` under `name`; the same name and source again is
    /// fine, another source is [`Error::NameTaken`].
    pub(crate) fn add(&self, name: &str, source: &str) -> Result<String> {
        self.insert(name, source, OnConflict::Refuse)
    }

    /// Registers `source` under `name`, replacing any other source.
    pub(crate) fn replace(&self, name: &str, source: &str) -> Result<String> {
        self.insert(name, source, OnConflict::Replace)
    }

    /// Registers `source` under `name` once it passed [`check`].
    fn insert(&self, name: &str, source: &str, on_conflict: OnConflict) -> Result<String> {
        check(name, source, self.targets())?;
        let mut scripts = self.scripts.write().unwrap_or_else(PoisonError::into_inner);
        let new_sha1 = sha1_hex(source);
        if let Some(old) = scripts.get(name) {
            if *old.id.sha1 == *new_sha1 {
                return Ok(new_sha1);
            }
            if on_conflict == OnConflict::Refuse {
                return Err(Error::NameTaken {
                    name: name.to_owned(),
                    registered_sha1: old.id.sha1.to_string(),
                    new_sha1,
                });
            }
        }
        scripts.insert(name.to_owned(), Arc::new(DynamicScript::new(name, source)));
        Ok(new_sha1)
    }

    /// Every registered script, in name order.
    pub(crate) fn handles(&self) -> Vec<ScriptHandle> {
        self.scripts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|s| ScriptHandle::Dynamic(s.clone()))
            .collect()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.scripts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn set_dir(&self, dir: PathBuf) {
        *self.dir.write().unwrap_or_else(PoisonError::into_inner) = Some(dir);
    }

    pub(crate) fn dir(&self) -> Option<PathBuf> {
        self.dir
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Resolves a file or folder given to `register_file` or
    /// `register_all_scripts`. Without a script folder, the path as given.
    /// With one, relative paths resolve against it, and the path, symlinks
    /// followed (`canonicalize`), must be the folder or inside it: `..`,
    /// an absolute path elsewhere and a symlink leading out are
    /// [`Error::OutsideScriptDir`]. Returns the resolved real path, so
    /// what is read is what was checked.
    pub(crate) fn resolve(&self, path: &Path) -> Result<PathBuf> {
        let Some(dir) = self.dir() else {
            return Ok(path.to_path_buf());
        };
        let joined = if path.is_relative() {
            dir.join(path)
        } else {
            path.to_path_buf()
        };
        let outside = || Error::OutsideScriptDir {
            path: path.to_path_buf(),
            script_dir: dir.clone(),
        };
        let real_dir = dir.canonicalize().map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        match joined.canonicalize() {
            Ok(real) if real.starts_with(&real_dir) => Ok(real),
            Ok(_) => Err(outside()),
            // A path that does not exist is still refused as outside when
            // it leaves the folder as written.
            Err(_) if leaves(path, &dir, &real_dir) => Err(outside()),
            Err(source) => Err(Error::Io {
                path: joined,
                source,
            }),
        }
    }

    /// The servers registrations are linted for.
    fn targets(&self) -> Servers {
        *self.servers.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `dir/script-cache.toml` (see `script_cache_check::servers`)
    /// and makes its servers the lint's targets from now on.
    fn read_config(&self, dir: &Path) -> Result<()> {
        let shown = dir.display().to_string();
        let config = servers::load(dir, &shown).map_err(|reason| Error::InvalidScript {
            what: dir.join(servers::CONFIG_FILE).display().to_string(),
            reason,
        })?;
        *self.servers.write().unwrap_or_else(PoisonError::into_inner) = config.servers;
        Ok(())
    }

    /// Reads and registers one file under its stem, for the servers of its
    /// folder's `script-cache.toml`.
    pub(crate) fn register_file(&self, path: &Path) -> Result<String> {
        let real = self.resolve(path)?;
        self.read_config(real.parent().unwrap_or(Path::new(".")))?;
        // Named after the file as given (a symlink inside the folder is
        // named after itself, not its target).
        let name = stem_of(path)?;
        let source = read_script(&real)?;
        self.add(&name, &source)?;
        Ok(name)
    }

    /// Registers every top-level `*.lua` file of `dir`, in sorted order;
    /// nothing is registered if any file fails. With a script folder set,
    /// `dir` must be inside it ([`resolve`](Self::resolve)); either way a
    /// `*.lua` symlink leading out of `dir` is refused.
    pub(crate) fn register_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let dir = self.resolve(dir)?;
        let io = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let is_script = path.extension().is_some_and(|e| e == "lua")
                && !path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
            if is_script {
                files.push(path);
            }
        }
        files.sort();
        self.read_config(&dir)?;
        let real_dir = dir.canonicalize().map_err(io)?;
        let mut loaded = Vec::with_capacity(files.len());
        for path in &files {
            // A `*.lua` symlink leading out of the folder is refused like
            // one given to register_file.
            let real = path.canonicalize().map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            if !real.starts_with(&real_dir) {
                return Err(Error::OutsideScriptDir {
                    path: path.clone(),
                    script_dir: self.dir().unwrap_or_else(|| dir.clone()),
                });
            }
            let (name, source) = (stem_of(path)?, read_script(&real)?);
            // Checked before any is registered: a bad file leaves the
            // registry as it was.
            check(&name, &source, self.targets())?;
            loaded.push((name, source));
        }
        // Check every name before registering any, so a conflict leaves
        // the registry as it was.
        for (name, source) in &loaded {
            if let Ok(existing) = self.get(name)
                && *existing.id.sha1 != *sha1_hex(source)
            {
                return Err(Error::NameTaken {
                    name: name.clone(),
                    registered_sha1: existing.id.sha1.to_string(),
                    new_sha1: sha1_hex(source),
                });
            }
        }
        let mut names = Vec::with_capacity(loaded.len());
        for (name, source) in loaded {
            self.add(&name, &source)?;
            names.push(name);
        }
        Ok(names)
    }
}

/// `SCRIPT LOAD`'s verdict on `source`, before anything is registered or
/// sent, with the checker the macros use: the `#!lua` line as Redis 7 and
/// Valkey read it (Redis 6.2 gets it as a comment, which always loads),
/// then, with the `checker` feature, the body as Lua 5.1 on every server
/// and the lint's errors. Without the feature the body is not checked
/// here: the server's `SCRIPT LOAD` is the Lua checker, at the script's
/// first call or load ([`Error::LoadRejected`], the script did not run).
fn check(name: &str, source: &str, targets: Servers) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidScript {
            what: "script name".into(),
            reason: "the name is empty".into(),
        });
    }
    if let Err(e) = script_cache_check::shebang::parse(source.as_bytes()) {
        return Err(Error::Shebang {
            name: name.to_owned(),
            column: e.column,
            message: e.message,
        });
    }
    #[cfg(feature = "checker")]
    check_lua(name, source, targets)?;
    #[cfg(not(feature = "checker"))]
    {
        let _ = targets;
        check_ascii_code(name, source)?;
    }
    Ok(())
}

/// Without the checker: a character that is not ASCII outside strings and
/// comments (`local café`, a typographic quote pasted into code) is a
/// certain Lua 5.1 syntax error (Lua reads such bytes one by one, as
/// symbols no rule takes), and the servers' reply would quote its first
/// byte alone, which is not UTF-8 and which the client cannot read. The
/// lexer (no Lua needed) finds it, and it is refused here.
#[cfg(not(feature = "checker"))]
fn check_ascii_code(name: &str, source: &str) -> Result<()> {
    use script_cache_check::lex::{TokenKind, lex};
    // The shebang parsed: the body starts at a character boundary.
    let Some(body) = script_cache_check::lua_body(source.as_bytes()) else {
        return Ok(());
    };
    let offset = source.len() - body.len();
    let lexed = lex(body);
    for token in lexed.tokens.iter().filter(|t| t.kind == TokenKind::String) {
        if let Some(message) = short_string_error(token.text(body)) {
            return Err(Error::Syntax {
                name: name.to_owned(),
                line: token.line,
                message: format!(
                    "{message} at column {}",
                    lexed.column(body, token.line, token.start)
                ),
            });
        }
    }
    let found = lexed.tokens.iter().find(|t| {
        t.kind == TokenKind::Other && t.text(body).first().is_some_and(|b| !b.is_ascii())
    });
    let Some(token) = found else {
        return Ok(());
    };
    let character = source
        .get(offset + token.start..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    Err(Error::Syntax {
        name: name.to_owned(),
        line: token.line,
        message: format!(
            "unexpected symbol near '{character}' at column {} (outside strings and \
             comments Lua 5.1 takes ASCII only)",
            lexed.column(body, token.line, token.start)
        ),
    })
}

/// The body as Lua 5.1 on every server, then the lint's errors.
#[cfg(feature = "checker")]
fn check_lua(name: &str, source: &str, targets: Servers) -> Result<()> {
    // Nothing invalid reaches a server (a syntax error reply can carry
    // bytes that are not UTF-8, which break the connection's reply parser).
    if let Err(e) = script_cache_check::check_syntax(source.as_bytes()) {
        return Err(Error::Syntax {
            name: name.to_owned(),
            line: e.line,
            message: e.message,
        });
    }
    // And the lint: what would fail when a line runs, as at build time.
    if let Some(finding) = lint_error(source, targets) {
        return Err(Error::Lint {
            name: name.to_owned(),
            line: finding.line,
            column: finding.column,
            rule: finding.rule.name(),
            message: finding.message,
            help: finding.help,
        });
    }
    Ok(())
}

/// Whether `path`, as written, leads out of the script folder `dir`
/// (whose real path is `real_dir`): a relative path with more `..` than
/// folders before them, or an absolute path under neither.
fn leaves(path: &Path, dir: &Path, real_dir: &Path) -> bool {
    if path.is_absolute() {
        return !(path.starts_with(dir) || path.starts_with(real_dir))
            || path.components().any(|c| c == Component::ParentDir);
    }
    let mut depth: usize = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    false
}

fn stem_of(path: &Path) -> Result<String> {
    match path.file_stem().map(|s| s.to_str()) {
        Some(Some(stem)) if !stem.is_empty() => Ok(stem.to_owned()),
        _ => Err(Error::InvalidScript {
            what: path.display().to_string(),
            reason: "the file name is empty or not UTF-8".into(),
        }),
    }
}

/// Reads a script file: a regular file (symlinks followed) of at most
/// [`MAX_SCRIPT_FILE_BYTES`], UTF-8. A FIFO or device is refused before it
/// is opened, and the file is opened non-blocking and checked again, so a
/// FIFO swapped in meanwhile cannot make this hang either.
fn read_script(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = || Error::InvalidScript {
        what: path.display().to_string(),
        reason: "not a regular file (a FIFO, device, socket or folder is never read)".into(),
    };
    let too_big = |len: u64| Error::InvalidScript {
        what: path.display().to_string(),
        reason: format!("{len} bytes: larger than the limit of {MAX_SCRIPT_FILE_BYTES} bytes"),
    };
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    if metadata.len() > MAX_SCRIPT_FILE_BYTES {
        return Err(too_big(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_SCRIPT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SCRIPT_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| Error::InvalidScript {
        what: path.display().to_string(),
        reason: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })
}

/// The lexical error of a quoted string token as Lua 5.1's `read_string`
/// finds it (an unfinished string, a decimal escape above 255): certain
/// syntax errors whose server message quotes the string read so far, which
/// its escapes can make bytes that are not UTF-8 (`"\195`). `None` for a
/// long-bracket string or a well-formed quoted one.
#[cfg(not(feature = "checker"))]
fn short_string_error(text: &[u8]) -> Option<&'static str> {
    let (&quote, mut rest) = text.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let unfinished = Some("unfinished string");
    loop {
        match rest {
            [] => return unfinished,
            [b, ..] if *b == quote => return None,
            [b'\n' | b'\r', ..] => return unfinished,
            [b'\\', after @ ..] => match after {
                [] => return unfinished,
                [d, ..] if d.is_ascii_digit() => {
                    let digits = after.iter().take(3).take_while(|d| d.is_ascii_digit());
                    let count = digits.clone().count();
                    let value = digits.fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
                    if value > 255 {
                        return Some("escape sequence too large");
                    }
                    rest = after.get(count..).unwrap_or_default();
                }
                // `\r\n` and `\n\r` are one line break.
                [b'\r', b'\n', tail @ ..] | [b'\n', b'\r', tail @ ..] => rest = tail,
                [_, tail @ ..] => rest = tail,
            },
            [_, tail @ ..] => rest = tail,
        }
    }
}

/// The first error of the build-time lint on `source` (its warnings do not
/// stop a registration).
#[cfg(feature = "checker")]
fn lint_error(source: &str, servers: Servers) -> Option<script_cache_check::lint::Finding> {
    script_cache_check::lint::lint_script_for(source, servers)
        .into_iter()
        .find(|f| f.severity() == script_cache_check::lint::Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "checker")]
    #[test]
    fn lint_errors_refuse_registration_warnings_do_not() {
        let r = Registry::default();
        match r.add("typo", "local count = 1\nreturn cuont") {
            Err(e @ Error::Lint { .. }) => {
                let Error::Lint {
                    ref name,
                    line,
                    column,
                    rule,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(
                    (name.as_str(), line, column, rule),
                    ("typo", 2, 8, "undefined-global")
                );
                let text = e.to_string();
                assert!(text.contains("did you mean `count`?"), "{text}");
                assert!(text.contains("allow(undefined-global)"), "{text}");
                assert_eq!(e.ran(), crate::Ran::No);
            }
            other => panic!("{other:?}"),
        }
        assert!(r.get("typo").is_err());
        // A warning (a literal key) and an allowed error register.
        assert!(r.add("literal", "return redis.call('GET', 'k')").is_ok());
        let allowed = "x = 1 -- script-cache: allow(global-write)\nreturn 1";
        assert!(r.add("allowed", allowed).is_ok());
        assert!(matches!(
            r.add(
                "write",
                "#!lua flags=no-writes\nreturn redis.call('DEL', KEYS[1])"
            ),
            Err(Error::Lint {
                rule: "write-in-no-writes",
                ..
            })
        ));
    }

    /// Without the `checker` feature the body is not checked here (the
    /// server is the checker, at the first call); the name and the shebang
    /// still are, and the SHA-1 is the source's.
    #[cfg(not(feature = "checker"))]
    #[test]
    fn without_the_checker_the_body_is_left_to_the_server() {
        let r = Registry::default();
        let sha = r.add("broken", "return +").unwrap();
        assert_eq!(sha, sha1_hex("return +"));
        assert_eq!(&*r.get("broken").unwrap().source, "return +");
        assert!(r.add("typo", "local count = 1\nreturn cuont").is_ok());
        // Text in strings and comments is anything; code is ASCII.
        assert!(r.add("text", "-- café\nreturn 'café' -- “x”").is_ok());
        match r.add("accent", "#!lua\nlocal x = 1\nlocal café = 1\n") {
            Err(e @ Error::Syntax { line: 3, .. }) => {
                let text = e.to_string();
                assert!(text.contains("script `accent`"), "{text}");
                assert!(text.contains("near 'é' at column 10"), "{text}");
                assert_eq!(e.ran(), crate::Ran::No);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.add("quote", "return “x”"),
            Err(Error::Syntax { line: 1, .. })
        ));
        // The lexical errors of quoted strings, which the server would
        // report by quoting the string read so far.
        for (source, line, message) in [
            ("return \"\\195\n", 1, "unfinished string"),
            ("local x = 1\nreturn '\\195", 2, "unfinished string"),
            ("return 'a\\'", 1, "unfinished string"),
            ("return '\\195\\400'", 1, "escape sequence too large"),
        ] {
            match r.add("s", source) {
                Err(Error::Syntax {
                    line: l,
                    message: m,
                    ..
                }) => {
                    assert_eq!(l, line, "{source:?}");
                    assert!(m.starts_with(message), "{source:?}: {m}");
                }
                other => panic!("{source:?}: {other:?}"),
            }
        }
        for (i, fine) in [
            "return '\\195\\255'",
            "return \"a\\\nb\"",
            "return 'it\\'s', \"\\\"\"",
            "return [[\"unclosed in a long string]]",
            "return '\\0009'",
        ]
        .into_iter()
        .enumerate()
        {
            assert!(r.add(&format!("fine{i}"), fine).is_ok(), "{fine:?}");
        }
        assert!(matches!(
            r.add("bad_shebang", "#!lua flags=bogus\nreturn 1"),
            Err(Error::Shebang { .. })
        ));
        assert!(matches!(
            r.add("", "return 1"),
            Err(Error::InvalidScript { .. })
        ));
    }

    #[test]
    fn shebangs_the_servers_refuse_are_refused() {
        let r = Registry::default();
        for (source, column) in [
            ("#!lua flags=bogus\nreturn 1", 13),
            ("#!lua name=lib\nreturn 1", 7),
            ("#!python\nreturn 1", 1),
            ("#!lua", 6),
        ] {
            match r.add("x", source) {
                Err(e @ Error::Shebang { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("script `x`"), "{text}");
                    assert!(text.contains(&format!("line 1:{column}")), "{text}");
                    assert_eq!(e.ran(), crate::Ran::No);
                }
                other => panic!("{source:?}: {other:?}"),
            }
        }
        assert!(r.names().is_empty());
        r.add("ro", "#!lua flags=no-writes,allow-stale\nreturn 1")
            .unwrap();
        assert!(r.get("ro").unwrap().read_only);
    }

    #[test]
    fn leaving_the_folder_as_written() {
        let (dir, real) = (Path::new("/x/scripts"), Path::new("/real/scripts"));
        for path in [
            "../a.lua",
            "lib/../../a.lua",
            "/x/a.lua",
            "/x/scripts/../a.lua",
            "/etc",
        ] {
            assert!(leaves(Path::new(path), dir, real), "{path}");
        }
        for path in [
            "a.lua",
            "lib/../a.lua",
            "./a.lua",
            "/x/scripts/a.lua",
            "/real/scripts/b",
        ] {
            assert!(!leaves(Path::new(path), dir, real), "{path}");
        }
    }

    #[test]
    fn same_source_twice_is_fine_other_source_is_not() {
        let r = Registry::default();
        let sha = r.add("a", "return 1").unwrap();
        assert_eq!(r.add("a", "return 1").unwrap(), sha);
        let err = r.add("a", "return 2").unwrap_err();
        assert!(matches!(err, Error::NameTaken { .. }), "{err}");
        assert_eq!(&*r.get("a").unwrap().source, "return 1");
        r.replace("a", "return 2").unwrap();
        assert_eq!(&*r.get("a").unwrap().source, "return 2");
        assert!(r.add("", "return 1").is_err());
        match r.get("A").unwrap_err() {
            Error::UnknownScript { name, similar } => {
                assert_eq!(name, "A");
                assert_eq!(similar, vec!["a"]);
            }
            e => panic!("{e}"),
        }
        // `b` is nothing like `a`: no suggestion.
        assert!(matches!(
            r.get("b"),
            Err(Error::UnknownScript { similar, .. }) if similar.is_empty()
        ));
    }
}

#[cfg(all(test, feature = "checker"))]
mod properties {
    //! Bounded property tests of the registry: any name and source either
    //! registers or is refused with a typed error, never a panic; a
    //! registered source is valid Lua and found again under its name.
    use super::*;
    use proptest::prelude::*;

    fn sources() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("return 1".to_owned()),
            Just("#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])\n".to_owned()),
            "return [0-9]{1,6}",
            "local [a-z]{1,8} = [0-9]{1,3}\nreturn [a-z]{1,8}",
            ".{0,60}",
            "#!lua.{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

        #[test]
        fn register_is_total(name in ".{0,12}", source in sources(), other in sources()) {
            let registry = Registry::default();
            match registry.add(&name, &source) {
                Ok(sha) => {
                    prop_assert!(!name.is_empty());
                    prop_assert!(script_cache_check::shebang::parse(source.as_bytes()).is_ok());
                    prop_assert!(script_cache_check::check_syntax(source.as_bytes()).is_ok());
                    prop_assert!(lint_error(&source, Servers::ALL).is_none());
                    prop_assert_eq!(&sha, &sha1_hex(&source));
                    let found = registry.get(&name).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&*found.source, source.as_str());
                    // Another source under the same name is refused, or
                    // taken with `replace`.
                    match registry.add(&name, &other) {
                        Ok(_) => prop_assert_eq!(sha1_hex(&other), sha),
                        Err(e) => prop_assert!(
                            matches!(
                                e,
                                Error::NameTaken { .. }
                                    | Error::Shebang { .. }
                                    | Error::Syntax { .. }
                                    | Error::Lint { .. }
                            ),
                            "{e}"
                        ),
                    }
                }
                Err(Error::Shebang { column, .. }) => {
                    prop_assert!(column >= 1);
                    prop_assert!(script_cache_check::shebang::parse(source.as_bytes()).is_err());
                }
                Err(Error::Syntax { line, .. }) => {
                    prop_assert!(line >= 1);
                    prop_assert!(script_cache_check::shebang::parse(source.as_bytes()).is_ok());
                    prop_assert!(script_cache_check::check_syntax(source.as_bytes()).is_err());
                }
                Err(Error::Lint { line, rule, .. }) => {
                    prop_assert!(line >= 1);
                    prop_assert!(script_cache_check::check_syntax(source.as_bytes()).is_ok());
                    prop_assert!(lint_error(&source, Servers::ALL).is_some_and(|f| f.rule.name() == rule));
                }
                Err(Error::InvalidScript { .. }) => prop_assert!(name.is_empty()),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }
}
