//! Every entry point of the checker takes any bytes without panicking:
//! seeded random inputs built from Lua's own tokens and hostile bytes (a
//! bounded number of them), each through the verdict, the lexer, the
//! usage analysis, the shebang, the comment reader, the header, include
//! expansion and the diagnostic renderer.

use script_cache_check::{Diagnostic, Target, check_syntax, check_syntax_for};

const PIECES: &[&[u8]] = &[
    b"local ",
    b"x",
    b" = ",
    b"KEYS",
    b"ARGV",
    b"[",
    b"]",
    b"1",
    b"99999999999999999999",
    b"(",
    b")",
    b"{",
    b"}",
    b"if ",
    b" then ",
    b"end",
    b"function ",
    b"return ",
    b"break",
    b"--",
    b"--[[",
    b"]]",
    b"[=[",
    b"]=]",
    b"\"",
    b"'",
    b"\\",
    b"\r",
    b"\n",
    b"\0",
    b"\xFF",
    b"#!lua",
    b" flags=",
    b"no-writes",
    b",",
    b"-- @key ",
    b"-- @arg ",
    b"-- @return ",
    b"-- @include \"",
    b"...",
    b"..",
    b"0x1p4",
    b"`",
    b"\xC3\xA9",
    b"@",
    b"(routing)",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_003) as usize
    }
}

#[test]
fn no_input_panics() {
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    let mut refused = 0;
    for _ in 0..3_000 {
        let mut input = Vec::new();
        for _ in 0..rng.next() % 40 {
            input.extend_from_slice(PIECES[rng.next() % PIECES.len()]);
        }
        let verdict = check_syntax(&input);
        for target in [Target::Redis6, Target::Redis7, Target::Valkey] {
            let _ = check_syntax_for(&input, target);
        }
        let lexed = script_cache_check::lex::lex(&input);
        let _ = script_cache_check::usage::usage(&input, &lexed);
        let _ = script_cache_check::shebang::parse(&input);
        let text = String::from_utf8_lossy(&input);
        let _ = script_cache_check::comments::leading_comments(&text);
        let _ = script_cache_check::header::parse(&text);
        let _ = script_cache_check::include::expand("a.lua", &text, &mut |_| {
            Ok("local y = 1\r-- @include \"a.lua\"".to_owned())
        });
        if let Err(e) = verdict {
            refused += 1;
            assert!(e.line >= 1, "{e}");
            let shown = Diagnostic::new("lua/x.lua", e.line, e.column, e.message)
                .with_source(&input)
                .to_string();
            assert!(shown.contains("--> lua/x.lua:"), "{shown}");
        }
    }
    // Both verdicts are exercised.
    assert!(refused > 100 && refused < 2_900, "{refused} refused");
}
