//! The keys and arguments of one script call, kept in one buffer.
//!
//! A call's `KEYS` and `ARGV` are written into one byte buffer with the end
//! of each entry, instead of a `Vec<u8>` per entry: two allocations per call
//! whatever the number of keys and arguments, and the `EVALSHA` command is
//! then sized exactly once. Keys may be added after arguments; they are
//! still sent first.

use std::io;

use redis::{Cmd, RedisWrite, ToRedisArgs};

/// Room reserved on first use, enough for typical calls without growing.
const DATA_CAPACITY: usize = 64;
const ENTRY_CAPACITY: usize = 4;

/// `KEYS` and `ARGV` of one call.
#[derive(Clone, Default)]
pub(crate) struct CallArgs {
    data: Vec<u8>,
    /// End of each entry in `data`, and whether it is a key.
    entries: Vec<(usize, bool)>,
    keys: usize,
}

impl CallArgs {
    /// Appends whatever `value` expands to, as keys or as arguments.
    pub(crate) fn push<T: ToRedisArgs>(&mut self, value: &T, key: bool) {
        if self.entries.capacity() == 0 {
            self.data.reserve(DATA_CAPACITY);
            self.entries.reserve(ENTRY_CAPACITY);
        }
        value.write_redis_args(&mut Writer { args: self, key });
    }

    fn end_entry(&mut self, key: bool) {
        self.entries.push((self.data.len(), key));
        self.keys += usize::from(key);
    }

    /// How many keys.
    pub(crate) fn key_count(&self) -> usize {
        self.keys
    }

    /// How many arguments.
    pub(crate) fn arg_count(&self) -> usize {
        self.entries.len() - self.keys
    }

    /// About how many bytes the entries take packed (RESP headers included).
    pub(crate) fn packed_size_hint(&self) -> usize {
        self.data.len() + 16 * self.entries.len()
    }

    /// The entries that are keys (`true`) or arguments (`false`), in order.
    fn iter(&self, keys: bool) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.entries.iter().filter_map(move |&(end, key)| {
            let entry = &self.data[start..end];
            start = end;
            (key == keys).then_some(entry)
        })
    }

    /// Appends `<command> <sha1> <numkeys> keys... args...` to `cmd`
    /// (cleared first), so one `Cmd` can be reused.
    pub(crate) fn write_eval(&self, cmd: &mut Cmd, command: &str, sha1: &str) {
        cmd.clear();
        cmd.arg(command).arg(sha1).arg(self.keys);
        for key in self.iter(true) {
            cmd.arg(key);
        }
        for arg in self.iter(false) {
            cmd.arg(arg);
        }
    }

    /// The keys, in order (cluster routing).
    #[cfg(feature = "cluster")]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter(true)
    }

    /// `<command> <sha1> <numkeys> keys... args...`, sized exactly.
    pub(crate) fn eval_cmd(&self, command: &str, sha1: &str) -> Cmd {
        let mut cmd = Cmd::with_capacity(
            3 + self.entries.len(),
            command.len() + sha1.len() + 4 + self.data.len(),
        );
        self.write_eval(&mut cmd, command, sha1);
        cmd
    }
}

/// Writes entries into a [`CallArgs`] as keys or as arguments.
struct Writer<'a> {
    args: &'a mut CallArgs,
    key: bool,
}

impl RedisWrite for Writer<'_> {
    fn write_arg(&mut self, arg: &[u8]) {
        self.args.data.extend_from_slice(arg);
        self.args.end_entry(self.key);
    }

    fn writer_for_next_arg(&mut self) -> impl io::Write + '_ {
        EntryWriter {
            args: self.args,
            key: self.key,
        }
    }

    fn reserve_space_for_args(&mut self, additional: impl IntoIterator<Item = usize>) {
        let mut count = 0;
        let mut bytes = 0;
        for len in additional {
            count += 1;
            bytes += len;
        }
        self.args.data.reserve(bytes);
        self.args.entries.reserve(count);
    }
}

/// One entry written piecewise; it ends when the writer is dropped.
struct EntryWriter<'a> {
    args: &'a mut CallArgs,
    key: bool,
}

impl io::Write for EntryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.args.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EntryWriter<'_> {
    fn drop(&mut self) {
        self.args.end_entry(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<other>".into(),
            })
            .collect()
    }

    #[test]
    fn keys_go_first_whatever_the_order_written() {
        let mut args = CallArgs::default();
        args.push(&"a1", false);
        args.push(&"k1", true);
        args.push(&(2, "a3"), false);
        args.push(&vec!["k2", "k3"], true);
        args.push(&42.5, false);
        assert_eq!((args.key_count(), args.arg_count()), (3, 4));
        let cmd = args.eval_cmd("EVALSHA", "abc");
        assert_eq!(
            names(&cmd),
            [
                "EVALSHA", "abc", "3", "k1", "k2", "k3", "a1", "2", "a3", "42.5"
            ]
        );
        // Same bytes as building the command argument by argument.
        let mut by_hand = redis::cmd("EVALSHA");
        by_hand.arg("abc").arg(3).arg("k1").arg("k2").arg("k3");
        by_hand.arg("a1").arg(2).arg("a3").arg(42.5);
        assert_eq!(cmd.get_packed_command(), by_hand.get_packed_command());
    }

    #[test]
    fn empty_and_binary_entries() {
        let mut args = CallArgs::default();
        args.push(&"", true);
        args.push(&b"\r\n\0".to_vec(), false);
        args.push(&Vec::<String>::new(), false);
        let cmd = args.eval_cmd("EVALSHA_RO", "s");
        let mut by_hand = redis::cmd("EVALSHA_RO");
        by_hand.arg("s").arg(1).arg("").arg(b"\r\n\0".to_vec());
        assert_eq!(cmd.get_packed_command(), by_hand.get_packed_command());
        let mut reused = redis::cmd("GET");
        args.write_eval(&mut reused, "EVALSHA_RO", "s");
        assert_eq!(reused.get_packed_command(), by_hand.get_packed_command());
    }
}
