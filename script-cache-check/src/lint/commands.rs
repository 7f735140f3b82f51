//! The checks of a literal `redis.call`/`redis.pcall` (or an alias), each
//! its own function, in the order they run: the command is known
//! (`unknown-command`), on every targeted server (`server-support`), its
//! subcommand is known, the servers allow it in scripts
//! (`command-not-allowed`), its argument count (`command-arity`), writes in
//! a `no-writes` script (`write-in-no-writes`), and its keys come from
//! `KEYS` (`key-not-in-keys`). `KEYS`/`SCAN` are `keyspace-scan`.

use full_moon::ast::{Expression, FunctionArgs};
use full_moon::tokenizer::TokenReference;

use super::tables::{self, COMMANDS, Command, SERVERS};
use super::{
    Origin, Rule, Walker, at, command_mask, did_you_mean, find_command, first_token, literal,
    multiple, servers_list,
};

/// One literal call, once its command (and subcommand) are known.
struct Call<'a> {
    /// The arguments, the command's name first.
    list: &'a [&'a Expression],
    /// The command's name token.
    token: &'a TokenReference,
    /// The top-level command.
    top: &'static Command,
    /// The subcommand's entry for a container with a literal subcommand,
    /// else `top`.
    entry: &'static Command,
    /// As messages show it: `GET`, `CLIENT SETNAME`.
    shown: String,
    /// The targeted servers that have the command.
    servers: u8,
}

impl Call<'_> {
    /// The arity and flags on server `i`: the entry's, or the container's
    /// where the server lists no subcommands (Redis 6.2).
    fn on(&self, i: usize) -> Option<(i16, u16)> {
        let a = *self.entry.arity.get(i)?;
        if a != 0 {
            return Some((a, *self.entry.flags.get(i)?));
        }
        let a = *self.top.arity.get(i)?;
        (a != 0).then(|| (a, self.top.flags.get(i).copied().unwrap_or(0)))
    }

    /// The indices of the targeted servers that have the command.
    fn targets(&self) -> impl Iterator<Item = usize> + '_ {
        (0..SERVERS.len()).filter(|i| self.servers & (1 << i) != 0)
    }

    /// The targeted servers whose flags for the command include `flag`.
    fn flagged(&self, flag: u16) -> u8 {
        self.targets()
            .filter(|&i| self.on(i).is_some_and(|(_, f)| f & flag != 0))
            .fold(0u8, |m, i| m | (1 << i))
    }
}

impl Walker {
    /// A `redis.call`/`redis.pcall` (or alias) with these arguments.
    pub(super) fn command(&mut self, args: &FunctionArgs) {
        let list: Vec<&Expression> = match args {
            FunctionArgs::Parentheses { arguments, .. } => arguments.iter().collect(),
            _ => return,
        };
        let Some((written, token)) = list.first().and_then(|e| literal(e)) else {
            return;
        };
        let Some(top) = self.known_command(written, token) else {
            return;
        };
        let name = written.to_ascii_lowercase();
        if name == "keys" || name == "scan" {
            self.keyspace_scan(token, &written.to_uppercase());
        }
        let servers = self.server_support(top, written, token);
        if servers == 0 {
            return;
        }
        let Some((entry, shown)) = self.subcommand(top, written, &list) else {
            return;
        };
        let call = Call {
            list: &list,
            token,
            top,
            entry,
            shown,
            servers,
        };
        if self.not_allowed(&call) {
            return;
        }
        self.arity(&call);
        self.no_writes(&call);
        if !self.flags.keys_anywhere {
            self.keys(&call);
        }
    }

    /// `unknown-command`: the command `written`, when some server knows it.
    fn known_command(&mut self, written: &str, token: &TokenReference) -> Option<&'static Command> {
        let name = written.to_ascii_lowercase();
        let found = find_command(&name);
        if found.is_none() {
            let known = COMMANDS
                .iter()
                .filter(|c| !c.name.contains('|'))
                .map(|c| c.name);
            let suggestion = did_you_mean(&name, known, str::to_uppercase);
            self.push(
                Rule::UnknownCommand,
                at(token),
                format!("unknown Redis command `{written}`: no server knows it{suggestion}"),
                "check the command's name".to_owned(),
            );
        }
        found
    }

    /// `server-support`: the targeted servers that lack the command; the
    /// targeted servers that have it.
    fn server_support(&mut self, top: &Command, written: &str, token: &TokenReference) -> u8 {
        let has = command_mask(top);
        let lacking = self.servers & !has;
        if lacking != 0 {
            let on = |product: &str| {
                (0..SERVERS.len()).any(|i| has & (1 << i) != 0 && SERVERS[i].starts_with(product))
            };
            let mut since = Vec::new();
            if on("Redis") && !top.since.is_empty() {
                since.push(format!("Redis {}", top.since));
            }
            if on("Valkey") && !top.valkey_since.is_empty() {
                since.push(format!("Valkey {}", top.valkey_since));
            }
            let since = if since.is_empty() {
                String::new()
            } else {
                format!(", since {}", since.join(" and "))
            };
            self.push(
                Rule::ServerSupport,
                at(token),
                format!(
                    "`{}` is not a command on {} (it is on {}{since})",
                    written.to_uppercase(),
                    servers_list(lacking),
                    servers_list(has)
                ),
                self.target_help(has),
            );
        }
        self.servers & has
    }

    /// A container command's literal subcommand, which decides arity and
    /// flags on the servers that list subcommands: its entry and the call
    /// as shown (`CLIENT SETNAME`). `None` after an `unknown-command` for
    /// a subcommand the container does not have.
    fn subcommand(
        &mut self,
        top: &'static Command,
        written: &str,
        list: &[&Expression],
    ) -> Option<(&'static Command, String)> {
        let shown = written.to_uppercase();
        let Some((sub, sub_token)) = list
            .get(1)
            .and_then(|e| literal(e))
            .filter(|_| top.container)
        else {
            return Some((top, shown));
        };
        let name = written.to_ascii_lowercase();
        if let Some(c) = find_command(&format!("{name}|{}", sub.to_ascii_lowercase())) {
            return Some((c, format!("{shown} {}", sub.to_uppercase())));
        }
        let prefix = format!("{name}|");
        let subs: Vec<&str> = COMMANDS
            .iter()
            .filter_map(|c| c.name.strip_prefix(prefix.as_str()))
            .collect();
        if subs.is_empty() {
            return Some((top, shown));
        }
        let suggestion = did_you_mean(&sub.to_ascii_lowercase(), subs.iter().copied(), |s| {
            format!("{shown} {}", s.to_uppercase())
        });
        self.push(
            Rule::UnknownCommand,
            at(sub_token),
            format!(
                "`{shown} {}`: `{shown}` has no such subcommand{suggestion}",
                sub.to_uppercase(),
            ),
            format!(
                "its subcommands are {}",
                subs.iter()
                    .map(|s| s.to_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        None
    }

    /// `command-not-allowed`: whether some targeted server refuses the
    /// command in scripts (then nothing else is checked).
    fn not_allowed(&mut self, call: &Call<'_>) -> bool {
        let refused = call.flagged(tables::REFUSED_IN_SCRIPTS);
        if refused == 0 {
            return false;
        }
        let on = if refused == call.servers {
            "the servers refuse it there".to_owned()
        } else {
            format!(
                "{} refuse{} it there",
                servers_list(refused),
                if refused.count_ones() == 1 { "s" } else { "" }
            )
        };
        let help = if refused == call.servers {
            "send it from the client instead".to_owned()
        } else {
            self.target_help_as(call.servers & !refused, "allow")
        };
        self.push(
            Rule::CommandNotAllowed,
            at(call.token),
            format!(
                "`{}` cannot be called from a script: {on} (\"This Redis command is not allowed \
                 from script\")",
                call.shown
            ),
            help,
        );
        true
    }

    /// `command-arity`: a number of arguments the command never takes on
    /// some targeted server (the command's name is argument 1 for the
    /// servers; a last argument that may expand, `unpack(t)` or a call,
    /// counts as that many or more).
    fn arity(&mut self, call: &Call<'_>) {
        let count = call.list.len();
        let open = call.list.last().is_some_and(|e| multiple(e));
        let fixed = if open { count - 1 } else { count };
        let wrong: Vec<(usize, i16)> = call
            .targets()
            .filter_map(|i| {
                let (arity, _) = call.on(i)?;
                let a = usize::from(arity.unsigned_abs());
                let bad = if arity > 0 {
                    if open { fixed > a } else { fixed != a }
                } else {
                    !open && fixed < a
                };
                bad.then_some((i, arity))
            })
            .collect();
        let Some(&(_, arity)) = wrong.first() else {
            return;
        };
        let mask = wrong.iter().fold(0u8, |m, (i, _)| m | (1 << i));
        let words = call.shown.split(' ').count();
        let want = usize::from(arity.unsigned_abs()).saturating_sub(words);
        let takes = if arity > 0 {
            format!("exactly {want}")
        } else {
            format!("at least {want}")
        };
        let passes = fixed.saturating_sub(words);
        let passes = if open {
            format!("{passes} or more")
        } else {
            passes.to_string()
        };
        let on = if mask == call.servers {
            String::new()
        } else {
            format!(" on {}", servers_list(mask))
        };
        self.push(
            Rule::CommandArity,
            at(call.token),
            format!(
                "`{}` takes {takes} argument{} after its name{on}, this call passes \
                 {passes} (the server answers \"Wrong number of args\")",
                call.shown,
                if want == 1 { "" } else { "s" }
            ),
            "pass the arguments the command takes".to_owned(),
        );
    }

    /// `write-in-no-writes`: a command a `flags=no-writes` script may not
    /// send on some targeted server.
    fn no_writes(&mut self, call: &Call<'_>) {
        if !self.flags.no_writes || call.flagged(tables::REFUSED_IN_NO_WRITES) == 0 {
            return;
        }
        self.push(
            Rule::WriteInNoWrites,
            at(call.token),
            format!(
                "`{}` writes, and the script declares `flags=no-writes`: Redis 7+ and \
                 Valkey refuse it at run time (Redis 6.2 does not enforce the flag and \
                 would run the write)",
                call.shown
            ),
            "drop `no-writes` from the shebang, or the write from the script".to_owned(),
        );
    }

    /// `key-not-in-keys` for the key positions of a literal command.
    fn keys(&mut self, call: &Call<'_>) {
        let entry = call.entry;
        let (first, last, step) = entry.keys;
        if first <= 0 || step <= 0 || entry.flags.iter().any(|f| f & tables::MOVABLEKEYS != 0) {
            return;
        }
        let count = i32::try_from(call.list.len()).unwrap_or(i32::MAX);
        let last = if last < 0 {
            count + i32::from(last)
        } else {
            i32::from(last)
        };
        let mut i = i32::from(first);
        let mut reported = Vec::new();
        while i <= last && i < count {
            if let Some(e) = usize::try_from(i).ok().and_then(|i| call.list.get(i))
                && let Origin::NotKeys(what) = self.origin(e)
                && let Some(token) = first_token(e)
            {
                reported.push((at(token), what));
            }
            i += i32::from(step);
        }
        for (position, what) in reported {
            self.push(
                Rule::KeyNotInKeys,
                position,
                format!(
                    "a key of `{}` is {what}, not a `KEYS` entry: in a Redis Cluster it may \
                     live on another shard, and proxies and ACL key patterns cannot see it",
                    call.shown
                ),
                "pass the key in KEYS, or declare `#!lua flags=allow-cross-slot-keys` (or \
                 `no-cluster`) if the script never runs on a cluster"
                    .to_owned(),
            );
        }
    }
}
