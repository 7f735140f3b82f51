//! What a script folder's optional `script-cache.toml` declares, read by
//! the macros, by the command line and by runtime registration from a
//! folder: the servers the folder targets (`servers`, also the names the
//! lint's `-- script-cache: servers(...)` directive takes), and how its
//! function libraries are named on the server (`functions`, see
//! [`FunctionsMode`]).
//!
//! ```toml
//! # lua/script-cache.toml
//! servers = ["redis-8.2", "valkey-9.1"]
//! functions = "versioned"
//! ```
//!
//! Without the file (or without the key) a folder targets every known
//! server, the safe default: the lint then refuses what any of them lacks.
//! A file's `-- script-cache: servers(...)` directive narrows the folder's
//! targets further (it cannot add a server the folder does not declare).
//!
//! # Naming a server
//!
//! The names are those of the servers the lint's tables were generated
//! from: `redis-6.2`, `redis-7.0`, `valkey-8.1`, `redis-8.2`,
//! `valkey-9.1`. A server the tables do not know (a Redis 7.4, a Redis
//! 8.4, a Valkey 8.0) is refused, never guessed: the message names the
//! known server to write instead, the newest of the same product that is
//! not newer than it (`redis-7.0` for a Redis 7.4). That server has a
//! subset of what yours has, so the lint may refuse a command your server
//! accepts, never the reverse; `-- script-cache: allow(server-support)`
//! accepts such a line.

use std::fmt;
use std::path::{Path, PathBuf};

/// The servers of the lint's command table, as named in `servers(...)` and
/// `script-cache.toml` (index as the tables' `SERVERS`, which the lint
/// asserts).
pub(crate) const SERVER_NAMES: [&str; 5] = [
    "redis-6.2",
    "redis-7.0",
    "valkey-8.1",
    "redis-8.2",
    "valkey-9.1",
];

/// The name of the optional file in a script folder.
pub const CONFIG_FILE: &str = "script-cache.toml";

/// A set of known servers (of [`Servers::names`]), e.g. the targets of a
/// script folder.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Servers(u8);

impl Servers {
    /// Every server the lint's tables know: the default targets.
    pub const ALL: Servers = Servers((1 << SERVER_NAMES.len()) - 1);

    /// The names of every known server, oldest release first
    /// (`redis-6.2`, ..., `valkey-9.1`).
    pub fn names() -> &'static [&'static str] {
        &SERVER_NAMES
    }

    /// The set of these names, or why one of them is not a known server
    /// (with "did you mean", or which known server to name instead).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Servers, String> {
        let mut mask = 0;
        for name in names {
            mask |= 1 << index_of(name)?;
        }
        if mask == 0 {
            return Err(format!(
                "no server named; name at least one of {}",
                SERVER_NAMES.join(", ")
            ));
        }
        Ok(Servers(mask))
    }

    /// The bitmask (bit i: the i-th of [`Servers::names`]).
    pub fn mask(self) -> u8 {
        self.0
    }

    /// The set of a bitmask (bits of unknown servers are dropped).
    pub fn from_mask(mask: u8) -> Servers {
        Servers(mask & Servers::ALL.0)
    }

    /// Whether the set holds the server named `name`.
    pub fn contains(self, name: &str) -> bool {
        SERVER_NAMES
            .iter()
            .position(|n| *n == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The names in the set, oldest release first.
    pub fn iter(self) -> impl Iterator<Item = &'static str> {
        SERVER_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}

impl Default for Servers {
    fn default() -> Self {
        Servers::ALL
    }
}

impl fmt::Debug for Servers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Servers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iter().collect::<Vec<_>>().join(", "))
    }
}

/// The index of a known server's name, or why `name` is not one.
pub(crate) fn index_of(name: &str) -> Result<usize, String> {
    if let Some(i) = SERVER_NAMES.iter().position(|n| *n == name) {
        return Ok(i);
    }
    let known = SERVER_NAMES.join(", ");
    if let Some(instead) = nearest_older(name) {
        return Err(format!(
            "`{name}` is not a server the lint's tables know (they are generated from \
             {known}); name `{instead}` instead, the newest known {} release not newer than \
             it: the lint then holds the script to what `{instead}` has, which your server \
             has too (it may refuse a command only your server has: accept that line with \
             `-- script-cache: allow(server-support)`)",
            product(name).unwrap_or_default()
        ));
    }
    if product(name).is_some() && version(name).is_some() {
        return Err(format!(
            "`{name}` is not a server the lint's tables know (they are generated from \
             {known}), and none of them is an older release of the same product: the lint \
             cannot vouch for it; name the servers above that you also run, or none"
        ));
    }
    let suggestion = match crate::similar(name, SERVER_NAMES.iter().copied()).first() {
        Some(best) => format!(" (did you mean `{best}`?)"),
        None => String::new(),
    };
    Err(format!(
        "unknown server `{name}`{suggestion}; the servers are {known}"
    ))
}

/// `redis` or `valkey` of a `product-major.minor` name.
fn product(name: &str) -> Option<&str> {
    let (product, _) = name.split_once('-')?;
    matches!(product, "redis" | "valkey").then_some(product)
}

/// `(major, minor)` of a `product-major.minor` name.
fn version(name: &str) -> Option<(u32, u32)> {
    let (_, v) = name.split_once('-')?;
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// For a well-formed name of a server the tables do not know, the newest
/// known server of the same product that is not newer (`redis-7.4` ->
/// `redis-7.0`).
fn nearest_older(name: &str) -> Option<&'static str> {
    let product = product(name)?;
    let wanted = version(name)?;
    SERVER_NAMES
        .iter()
        .filter(|n| self::product(n) == Some(product))
        .filter_map(|n| Some((version(n)?, *n)))
        .filter(|(v, _)| *v <= wanted)
        .max()
        .map(|(_, n)| n)
}

/// How a folder's function libraries are named on the server: the
/// `functions` key of `script-cache.toml`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FunctionsMode {
    /// `functions = "replace"` (the default): a library is loaded under
    /// the name of its `#!lua name=` line, its functions under the names
    /// they are registered with; another copy of that name on the server
    /// is replaced.
    #[default]
    Replace,
    /// `functions = "versioned"`: the names carry the library's content
    /// hash ([`crate::version`]), so two versions of a library live side
    /// by side on one server (a rolling deploy) and each runs its own
    /// code.
    Versioned,
}

impl FunctionsMode {
    /// The values `functions` takes, as written in the file.
    pub const NAMES: [&'static str; 2] = ["replace", "versioned"];

    /// The value as written in `script-cache.toml`.
    pub fn name(self) -> &'static str {
        match self {
            FunctionsMode::Replace => "replace",
            FunctionsMode::Versioned => "versioned",
        }
    }

    /// The mode written `value`, or why it is none (with "did you mean").
    pub fn parse(value: &str) -> Result<FunctionsMode, String> {
        match value {
            "replace" => Ok(FunctionsMode::Replace),
            "versioned" => Ok(FunctionsMode::Versioned),
            other => {
                let suggestion = crate::did_you_mean(&crate::similar(
                    other,
                    FunctionsMode::NAMES.iter().copied(),
                ))
                .map_or(String::new(), |d| format!(" ({d})"));
                Err(format!(
                    "`functions = \"{other}\"` is not a mode{suggestion}; write \"replace\" \
                     (the default: libraries keep their names, another copy is replaced) or \
                     \"versioned\" (names carry the content's hash, for rolling deploys)"
                ))
            }
        }
    }
}

/// What a folder's `script-cache.toml` declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The servers the folder's scripts run on ([`Servers::ALL`] when not
    /// declared).
    pub servers: Servers,
    /// How its function libraries are named on the server
    /// ([`FunctionsMode::Replace`] when not declared).
    pub functions: FunctionsMode,
    /// The file it was read from, when there is one (the macros track it,
    /// so editing it rebuilds).
    pub file: Option<PathBuf>,
}

/// The keys `script-cache.toml` may have.
const KEYS: [&str; 2] = ["servers", "functions"];

/// Reads `dir/script-cache.toml`: the default [`Config`] when there is no
/// such file, or why the file is wrong (as `file: message`, with "did you
/// mean" for a misspelt key or server).
pub fn load(dir: &Path, shown_dir: &str) -> Result<Config, String> {
    let path = dir.join(CONFIG_FILE);
    let shown = if shown_dir.is_empty() || shown_dir.ends_with('/') {
        format!("{shown_dir}{CONFIG_FILE}")
    } else {
        format!("{shown_dir}/{CONFIG_FILE}")
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(format!("{shown}: cannot read it: {e}")),
    };
    let mut config = parse_config(&text).map_err(|e| format!("{shown}: {e}"))?;
    config.file = Some(path);
    Ok(config)
}

/// The servers a `script-cache.toml` text declares (see [`parse_config`]
/// for the whole file).
pub fn parse(text: &str) -> Result<Servers, String> {
    parse_config(text).map(|c| c.servers)
}

/// What a `script-cache.toml` text declares (`file` is `None`).
pub fn parse_config(text: &str) -> Result<Config, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        format!(
            "not valid TOML: {}",
            e.message().trim_end().replace('\n', " ")
        )
    })?;
    let mut servers = Servers::ALL;
    let mut functions = FunctionsMode::Replace;
    for (key, value) in &table {
        match key.as_str() {
            "servers" => {
                let list = value.as_array().ok_or_else(|| {
                    "`servers` must be a list of server names, e.g. `servers = [\"redis-8.2\", \
                     \"valkey-9.1\"]`"
                        .to_owned()
                })?;
                let names = list
                    .iter()
                    .map(|v| {
                        v.as_str().ok_or_else(|| {
                            format!("`servers` must list names as strings, found `{v}`")
                        })
                    })
                    .collect::<Result<Vec<&str>, String>>()?;
                servers = Servers::parse(names).map_err(|e| format!("`servers`: {e}"))?;
            }
            "functions" => {
                let value = value.as_str().ok_or_else(|| {
                    format!(
                        "`functions` must be a string, \"replace\" or \"versioned\", found \
                         `{value}`"
                    )
                })?;
                functions = FunctionsMode::parse(value)?;
            }
            other => {
                // Few keys: a looser match than for names.
                let suggestion = KEYS
                    .iter()
                    .map(|k| (strsim::osa_distance(&other.to_lowercase(), k), k))
                    .filter(|(d, _)| *d <= 3)
                    .min()
                    .map_or(String::new(), |(_, k)| format!(" (did you mean `{k}`?)"));
                return Err(format!(
                    "unknown key `{other}`{suggestion}; the keys are {}",
                    KEYS.join(", ")
                ));
            }
        }
    }
    Ok(Config {
        servers,
        functions,
        file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sets() {
        let s = Servers::parse(["redis-8.2", "valkey-9.1"]).unwrap();
        assert!(s.contains("redis-8.2") && !s.contains("redis-7.0"));
        assert_eq!(s.to_string(), "redis-8.2, valkey-9.1");
        assert_eq!(Servers::ALL.iter().count(), SERVER_NAMES.len());
        assert_eq!(Servers::from_mask(s.mask()), s);
    }

    #[test]
    fn unknown_names_are_refused_with_what_to_write() {
        let e = Servers::parse(["redis-8.22"]).unwrap_err();
        assert!(e.contains("name `redis-8.2` instead"), "{e}");
        let e = Servers::parse(["redis-7.4"]).unwrap_err();
        assert!(e.contains("name `redis-7.0` instead"), "{e}");
        let e = Servers::parse(["valkey-8.0"]).unwrap_err();
        assert!(e.contains("none of them is an older release"), "{e}");
        let e = Servers::parse(["redsi-7.0"]).unwrap_err();
        assert!(e.contains("did you mean `redis-7.0`?"), "{e}");
        let e = Servers::parse(["redis-5.0"]).unwrap_err();
        assert!(e.contains("none of them is an older release"), "{e}");
        let e = Servers::parse(["keydb-6.3"]).unwrap_err();
        assert!(e.contains("the servers are redis-6.2"), "{e}");
        assert!(Servers::parse([]).is_err());
    }

    #[test]
    fn the_file() {
        assert_eq!(
            parse("servers = [\"redis-8.2\"]\n").unwrap(),
            Servers::parse(["redis-8.2"]).unwrap()
        );
        assert_eq!(parse("").unwrap(), Servers::ALL);
        let e = parse("sever = [\"redis-8.2\"]").unwrap_err();
        assert!(
            e.contains("unknown key `sever` (did you mean `servers`?)"),
            "{e}"
        );
        let e = parse("servers = \"redis-8.2\"").unwrap_err();
        assert!(e.contains("must be a list"), "{e}");
        let e = parse("servers = [\"redis-9.9\"]").unwrap_err();
        assert!(e.contains("name `redis-8.2` instead"), "{e}");
        assert!(parse("servers = [").unwrap_err().contains("not valid TOML"));
    }

    #[test]
    fn the_functions_mode() {
        assert_eq!(parse_config("").unwrap().functions, FunctionsMode::Replace);
        assert_eq!(
            parse_config("functions = \"versioned\"").unwrap().functions,
            FunctionsMode::Versioned
        );
        assert_eq!(
            parse_config("functions = \"replace\"\nservers = [\"redis-8.2\"]").unwrap(),
            Config {
                servers: Servers::parse(["redis-8.2"]).unwrap(),
                functions: FunctionsMode::Replace,
                file: None,
            }
        );
        let e = parse_config("functions = \"versoned\"").unwrap_err();
        assert!(
            e.contains("`functions = \"versoned\"` is not a mode (did you mean `versioned`?)"),
            "{e}"
        );
        assert!(e.contains("write \"replace\""), "{e}");
        let e = parse_config("functions = \"hashed\"").unwrap_err();
        assert!(e.contains("is not a mode; write \"replace\""), "{e}");
        let e = parse_config("functions = true").unwrap_err();
        assert!(e.contains("`functions` must be a string"), "{e}");
        let e = parse_config("function = \"versioned\"").unwrap_err();
        assert!(
            e.contains("unknown key `function` (did you mean `functions`?)"),
            "{e}"
        );
        assert!(e.contains("the keys are servers, functions"), "{e}");
    }
}
