//! Inputs for the differential test of the build-time checker
//! (`tests/tests/differential.rs`): every `.lua` file of the workspace's
//! fixtures, the hand-written corner cases of `tests/fixtures/differential/`
//! (one file per class: a bare CR in a comment, code after `return`,
//! `"\400"`, NUL bytes, `0x1p4`, more than 200 locals, a `#!lua` with no
//! newline, backticks, deep nesting, ...), then deterministic mutations of
//! those until the requested count is reached.
//!
//! The generator is seeded, so a run is reproducible: the same count gives
//! the same inputs, in the same order.

use std::fs;
use std::path::{Path, PathBuf};

use crate::server::workspace_root;

/// One generated input: where it comes from (for messages) and its bytes.
#[derive(Clone, Debug)]
pub struct Input {
    /// `seed:<file>`, or `mutant:<n> of <file>`.
    pub origin: String,
    /// The script body, as sent to `SCRIPT LOAD`.
    pub bytes: Vec<u8>,
}

/// The seed the suite uses.
pub const SEED: u64 = 0x5C41_7C4C_0DE0_0010;

/// Inputs larger than this are not mutated further (the corpus holds a few
/// large nesting cases already).
const MAX_MUTANT_LEN: usize = 64 * 1024;

/// Fragments inserted by the mutator: each one exercises a corner where
/// a checker can disagree with Lua.
const FRAGMENTS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\r",
    b"\0",
    b"-- c\r",
    b"-- c\n",
    b"--[[",
    b"]]",
    b"--[==[",
    b"]==]",
    b"[[",
    b"[=[",
    b"]=]",
    b"return 1\n",
    b"return\n",
    b"break\n",
    b"end\n",
    b"end",
    b"do ",
    b" then ",
    b"if x then ",
    b"else ",
    b"elseif y then ",
    b"while true do ",
    b"repeat ",
    b"until x ",
    b"function f() ",
    b"local function g(...) ",
    b"\"\\400\"",
    b"\"\\255\"",
    b"\"\\z\"",
    b"'\\\n'",
    b"0x1p4",
    b"1e",
    b"1e+",
    b"0x",
    b"3.",
    b".5",
    b"1..2",
    b"...",
    b"`",
    b"#!lua\n",
    b"local ",
    b"local x = ",
    b"(",
    b")",
    b"{",
    b"}",
    b"[",
    b"]",
    b"'",
    b"\"",
    b"\\",
    b"KEYS[1]",
    b"ARGV[2]",
    b"KEYS[i]",
    b"goto x ",
    b"::x::",
    b"//",
    b"~=",
    b"!=",
    b"$",
    b"@",
    b"\xC3\xA9",
    b"\xFF",
    b"\x7F",
    b"\t",
    b"\x0B",
    b"\x0C",
    b";",
    b";;",
    b",",
    b"=",
    b"==",
    b"..",
    b"#",
    b"%",
    b"^",
    b"not ",
    b"and ",
    b"or ",
    b"nil",
    b"true",
    b"::",
];

/// Shebang lines put in front of inputs.
const SHEBANGS: &[&[u8]] = &[
    b"#!lua\n",
    b"#!lua flags=no-writes\n",
    b"#!lua flags=no-writes,allow-stale\n",
    b"#!lua flags=\n",
    b"#!lua flags=nope\n",
    b"#!lua flags=no-writes,\n",
    b"#!lua\r\n",
    b"#!  lua   flags=allow-oom \n",
    b"#!lua name=x\n",
    b"#!lua flags=no-writes flags=no-writes\n",
    b"#!python\n",
    b"#!\n",
    b"#!lua",
    b"#!lua flags=no-cluster,allow-cross-slot-keys\n",
];

/// Wrappers (before, after) around a whole input.
const WRAPPERS: &[(&[u8], &[u8])] = &[
    (b"do\n", b"\nend\n"),
    (b"if KEYS then\n", b"\nend\n"),
    (b"local function f(...)\n", b"\nend\nreturn f()\n"),
    (b"while true do\n", b"\nbreak end\n"),
    (b"return (function()\n", b"\nend)()\n"),
    (b"", b"\nreturn 1\n"),
    (b"-- header\r", b""),
    (b"", b"\n-- trailing comment"),
];

/// A small, seeded xorshift generator (no dependency, reproducible).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn lua_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            lua_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "lua") {
            out.push(path);
        }
    }
}

/// The seeds: every `.lua` file under the workspace's script folders and
/// fixtures, and the corner cases of `tests/fixtures/differential/`.
pub fn seeds() -> Vec<Input> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in [
        "lua",
        "tests/lua",
        "tests/bench-lua",
        "tests/fixtures",
        "tests/ui/fixtures",
    ] {
        lua_files(&root.join(dir), &mut files);
    }
    files
        .iter()
        .filter_map(|path| {
            let bytes = fs::read(path).ok()?;
            let shown = path.strip_prefix(&root).unwrap_or(path).display();
            Some(Input {
                origin: format!("seed:{shown}"),
                bytes,
            })
        })
        .collect()
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 | 1 => {
                let fragment = rng.pick(FRAGMENTS);
                out.splice(at..at, fragment.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => {
                let fragment = rng.pick(FRAGMENTS);
                let end = (at + 1).min(out.len());
                out.splice(at.min(end)..end, fragment.iter().copied());
            }
            4 => {
                // Duplicate a line.
                let start = out[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = out[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(out.len(), |i| at + i + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            5 => {
                let shebang = rng.pick(SHEBANGS);
                let body = if out.starts_with(b"#!") {
                    let nl = out
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(out.len(), |i| i + 1);
                    out[nl..].to_vec()
                } else {
                    out.clone()
                };
                out = shebang.to_vec();
                if shebang.ends_with(b"\n") {
                    out.extend(body);
                }
            }
            6 => {
                let (before, after) = rng.pick(WRAPPERS);
                let mut wrapped = before.to_vec();
                wrapped.extend_from_slice(&out);
                wrapped.extend_from_slice(after);
                out = wrapped;
            }
            _ => {
                // Cut the input short, as an editor crash would.
                out.truncate(at);
            }
        }
    }
    out
}

/// `count` inputs (at least the seeds): the seeds first, then mutants of
/// seeds and earlier mutants.
pub fn generate(count: usize, seed: u64) -> Vec<Input> {
    let mut rng = Rng::new(seed);
    let mut inputs = seeds();
    let base = inputs.len();
    let mut n = 0;
    while inputs.len() < count {
        // Mostly mutate a seed, sometimes a mutant (mutations stack up).
        let from = if rng.below(4) == 0 {
            rng.below(inputs.len())
        } else {
            rng.below(base)
        };
        if inputs[from].bytes.len() > MAX_MUTANT_LEN {
            continue;
        }
        n += 1;
        let bytes = mutate(&mut rng, &inputs[from].bytes);
        let origin = inputs[from].origin.clone();
        let origin = origin.strip_prefix("seed:").unwrap_or(&origin).to_owned();
        inputs.push(Input {
            origin: format!("mutant:{n} of {origin}"),
            bytes,
        });
    }
    inputs
}

/// `bytes` shown for a message: printable ASCII as is, the rest escaped,
/// cut at `max` bytes.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let mut out: String = bytes
        .iter()
        .take(max)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > max {
        out.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    out
}
