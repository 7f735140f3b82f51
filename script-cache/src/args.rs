//! The keys and arguments of one script call, kept packed.
//!
//! A call's `KEYS` and `ARGV` are written once, as they are added, into one
//! byte buffer in the wire format (RESP bulk strings, `$<len>\r\n<bytes>\r\n`),
//! keys first: one allocation per call whatever the number of keys and
//! arguments, and sending the call on a sync connection is a header plus
//! one copy ([`CallArgs::write_packed_eval`]). Keys may be added after
//! arguments; they are moved in front of them.

use std::io;

use redis::{Cmd, RedisWrite, ToRedisArgs};

/// Room reserved on first use, enough for typical calls without growing.
const DATA_CAPACITY: usize = 64;

/// `KEYS` and `ARGV` of one call.
#[derive(Clone, Default)]
pub(crate) struct CallArgs {
    /// The keys, then the arguments, each as a RESP bulk string.
    packed: Vec<u8>,
    /// Where the keys end in `packed`.
    keys_end: usize,
    keys: usize,
    args: usize,
}

/// The RESP header of a bulk string of `len` bytes (`$<len>\r\n`), in a
/// buffer on the stack, and its length.
fn bulk_header(len: usize) -> ([u8; 24], usize) {
    let mut digits = [0u8; 20];
    let n = decimal(len, &mut digits);
    let mut header = [0u8; 24];
    header[0] = b'$';
    header[1..=n].copy_from_slice(&digits[20 - n..]);
    header[n + 1..n + 3].copy_from_slice(b"\r\n");
    (header, n + 3)
}

/// Writes `value` in decimal at the end of `out`; returns how many digits.
fn decimal(mut value: usize, out: &mut [u8; 20]) -> usize {
    let mut at = out.len();
    loop {
        at -= 1;
        out[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return out.len() - at;
        }
    }
}

/// Appends `value` in decimal (short lengths without a buffer).
#[inline]
fn write_decimal(out: &mut Vec<u8>, value: usize) {
    if value < 10 {
        out.push(b'0' + value as u8);
    } else if value < 100 {
        out.extend_from_slice(&[b'0' + (value / 10) as u8, b'0' + (value % 10) as u8]);
    } else {
        let mut digits = [0u8; 20];
        let n = decimal(value, &mut digits);
        out.extend_from_slice(&digits[20 - n..]);
    }
}

/// Appends `bytes` as a RESP bulk string.
#[inline]
fn write_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 24);
    out.push(b'$');
    write_decimal(out, bytes.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Where a value of a call goes: `KEYS` or `ARGV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Key,
    Arg,
}

impl CallArgs {
    /// Appends whatever `value` expands to, as keys or as arguments.
    pub(crate) fn push<T: ToRedisArgs>(&mut self, value: &T, slot: Slot) {
        let key = slot == Slot::Key;
        if self.packed.capacity() == 0 {
            self.packed.reserve(DATA_CAPACITY);
        }
        value.write_redis_args(&mut Writer { args: self, key });
    }

    /// Records the entry written at `start..` (to the end of the buffer):
    /// a key goes in front of the arguments.
    fn end_entry(&mut self, start: usize, key: bool) {
        if key {
            let len = self.packed.len() - start;
            if self.keys_end != start {
                // Arguments were added before this key: move it in front.
                if let Some(tail) = self.packed.get_mut(self.keys_end..) {
                    tail.rotate_right(len);
                }
            }
            self.keys_end += len;
            self.keys += 1;
        } else {
            self.args += 1;
        }
    }

    /// How many keys.
    pub(crate) fn key_count(&self) -> usize {
        self.keys
    }

    /// How many arguments.
    pub(crate) fn arg_count(&self) -> usize {
        self.args
    }

    /// How many bytes the entries take packed.
    pub(crate) fn packed_size_hint(&self) -> usize {
        self.packed.len()
    }

    /// Appends `<command> <sha1> <numkeys> keys... args...` to `out` in
    /// the wire format, as `Cmd::write_packed_command` would.
    pub(crate) fn write_packed_eval(&self, out: &mut Vec<u8>, command: &str, sha1: &str) {
        out.reserve(96 + command.len() + sha1.len() + self.packed.len());
        out.push(b'*');
        write_decimal(out, 3 + self.keys + self.args);
        out.extend_from_slice(b"\r\n");
        write_bulk(out, command.as_bytes());
        write_bulk(out, sha1.as_bytes());
        // The number of keys as a bulk string.
        let mut numkeys = [0u8; 20];
        let n = decimal(self.keys, &mut numkeys);
        write_bulk(out, &numkeys[20 - n..]);
        out.extend_from_slice(&self.packed);
    }

    /// The entries, keys first.
    fn entries(&self) -> Entries<'_> {
        Entries { rest: &self.packed }
    }

    /// Appends `<command> <sha1> <numkeys> keys... args...` to `cmd`
    /// (cleared first), so one `Cmd` can be reused.
    pub(crate) fn write_eval(&self, cmd: &mut Cmd, command: &str, sha1: &str) {
        cmd.clear();
        cmd.arg(command).arg(sha1).arg(self.keys);
        for entry in self.entries() {
            cmd.arg(entry);
        }
    }

    /// The keys, in order (cluster routing).
    #[cfg(feature = "cluster")]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.entries().take(self.keys)
    }

    /// The key of a call with exactly one key (the common cluster case):
    /// the bytes between the end of its header and the end of the keys,
    /// found without reading the length back.
    #[cfg(feature = "cluster")]
    #[inline]
    pub(crate) fn only_key(&self) -> Option<&[u8]> {
        if self.keys != 1 {
            return None;
        }
        let keys = self.packed.get(..self.keys_end)?;
        let body = keys.iter().position(|&b| b == b'\n')? + 1;
        keys.get(body..self.keys_end.checked_sub(2)?)
    }

    /// `<command> <sha1> <numkeys> keys... args...`, sized exactly.
    pub(crate) fn eval_cmd(&self, command: &str, sha1: &str) -> Cmd {
        let mut cmd = Cmd::with_capacity(
            3 + self.keys + self.args,
            command.len() + sha1.len() + 4 + self.packed.len(),
        );
        self.write_eval(&mut cmd, command, sha1);
        cmd
    }
}

/// Reads back the bulk strings of a [`CallArgs`] (written by it, so well
/// formed; anything else ends the iteration).
struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest.strip_prefix(b"$")?;
        let digits = rest.iter().position(|&b| b == b'\r')?;
        let len = rest.get(..digits)?.iter().try_fold(0usize, |n, &d| {
            let digit = d.checked_sub(b'0').filter(|d| *d < 10)?;
            n.checked_mul(10)?.checked_add(usize::from(digit))
        })?;
        let body = rest.get(digits + 2..)?;
        let entry = body.get(..len)?;
        self.rest = body.get(len + 2..)?;
        Some(entry)
    }
}

/// Writes entries into a [`CallArgs`] as keys or as arguments.
struct Writer<'a> {
    args: &'a mut CallArgs,
    key: bool,
}

impl RedisWrite for Writer<'_> {
    fn write_arg(&mut self, arg: &[u8]) {
        let start = self.args.packed.len();
        write_bulk(&mut self.args.packed, arg);
        self.args.end_entry(start, self.key);
    }

    fn write_arg_fmt(&mut self, arg: impl std::fmt::Display) {
        use std::io::Write as _;
        let mut writer = self.writer_for_next_arg();
        // Writing into a Vec cannot fail.
        let _ = write!(writer, "{arg}");
    }

    fn writer_for_next_arg(&mut self) -> impl io::Write + '_ {
        EntryWriter {
            start: self.args.packed.len(),
            args: self.args,
            key: self.key,
        }
    }

    fn reserve_space_for_args(&mut self, additional: impl IntoIterator<Item = usize>) {
        let bytes: usize = additional.into_iter().map(|len| len + 16).sum();
        self.args.packed.reserve(bytes);
    }
}

/// One entry written piecewise: its bytes go to the end of the buffer, and
/// when the writer is dropped its header is put in front of them.
struct EntryWriter<'a> {
    args: &'a mut CallArgs,
    start: usize,
    key: bool,
}

impl io::Write for EntryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.args.packed.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EntryWriter<'_> {
    fn drop(&mut self) {
        let packed = &mut self.args.packed;
        let (header, n) = bulk_header(packed.len() - self.start);
        packed.extend_from_slice(&header[..n]);
        if let Some(entry) = packed.get_mut(self.start..) {
            entry.rotate_right(n);
        }
        packed.extend_from_slice(b"\r\n");
        self.args.end_entry(self.start, self.key);
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

    fn packed(args: &CallArgs, command: &str, sha1: &str) -> Vec<u8> {
        let mut out = b"left alone".to_vec();
        args.write_packed_eval(&mut out, command, sha1);
        out.split_off(10)
    }

    /// Written through `writer_for_next_arg`, in pieces.
    struct Pieces(&'static [&'static str]);

    impl ToRedisArgs for Pieces {
        fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
            use std::io::Write as _;
            let mut w = out.writer_for_next_arg();
            for piece in self.0 {
                w.write_all(piece.as_bytes()).unwrap();
            }
        }
    }

    /// Written through `write_arg_fmt`.
    struct Shown(f64);

    impl ToRedisArgs for Shown {
        fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
            out.write_arg_fmt(self.0);
        }
    }

    #[test]
    fn keys_go_first_whatever_the_order_written() {
        let mut args = CallArgs::default();
        args.push(&"a1", Slot::Arg);
        args.push(&"k1", Slot::Key);
        args.push(&(2, "a3"), Slot::Arg);
        args.push(&vec!["k2", "k3"], Slot::Key);
        args.push(&42.5, Slot::Arg);
        args.push(&Pieces(&["a", "", "b"]), Slot::Arg);
        args.push(&Pieces(&["k", "4"]), Slot::Key);
        args.push(&Shown(0.25), Slot::Key);
        assert_eq!((args.key_count(), args.arg_count()), (5, 5));
        let cmd = args.eval_cmd("EVALSHA", "abc");
        assert_eq!(
            names(&cmd),
            [
                "EVALSHA", "abc", "5", "k1", "k2", "k3", "k4", "0.25", "a1", "2", "a3", "42.5",
                "ab"
            ]
        );
        // Same bytes as building the command argument by argument.
        let mut by_hand = redis::cmd("EVALSHA");
        by_hand.arg("abc").arg(5).arg("k1").arg("k2").arg("k3");
        by_hand.arg("k4").arg("0.25").arg("a1").arg(2).arg("a3");
        by_hand.arg(42.5).arg("ab");
        assert_eq!(cmd.get_packed_command(), by_hand.get_packed_command());
        assert_eq!(
            packed(&args, "EVALSHA", "abc"),
            by_hand.get_packed_command()
        );
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn only_key_is_the_one_key_whatever_its_bytes_and_order() {
        let keys: [&[u8]; 5] = [b"k", b"", b"\r\n$3\r\nabc\r\n", b"{tag}\n\n", &[b'x'; 300]];
        for key in keys {
            let mut args = CallArgs::default();
            args.push(&"before", Slot::Arg);
            args.push(&key.to_vec(), Slot::Key);
            args.push(&"after\r\n", Slot::Arg);
            assert_eq!(args.only_key(), Some(key));
            assert_eq!(args.keys().collect::<Vec<_>>(), [key]);
        }
        let mut pieces = CallArgs::default();
        pieces.push(&Pieces(&["a\n", "", "b"]), Slot::Key);
        assert_eq!(pieces.only_key(), Some(&b"a\nb"[..]));
        let mut none = CallArgs::default();
        none.push(&"arg", Slot::Arg);
        assert_eq!(none.only_key(), None);
        let mut two = CallArgs::default();
        two.push(&("k1", "k2"), Slot::Key);
        assert_eq!(two.only_key(), None);
    }

    #[test]
    fn empty_and_binary_entries() {
        let mut args = CallArgs::default();
        args.push(&"", Slot::Key);
        args.push(&b"\r\n\0$12\r\n".to_vec(), Slot::Arg);
        args.push(&Vec::<String>::new(), Slot::Arg);
        args.push(&Pieces(&[]), Slot::Arg);
        let cmd = args.eval_cmd("EVALSHA_RO", "s");
        let mut by_hand = redis::cmd("EVALSHA_RO");
        by_hand
            .arg("s")
            .arg(1)
            .arg("")
            .arg(b"\r\n\0$12\r\n".to_vec())
            .arg("");
        assert_eq!(cmd.get_packed_command(), by_hand.get_packed_command());
        let mut reused = redis::cmd("GET");
        args.write_eval(&mut reused, "EVALSHA_RO", "s");
        assert_eq!(reused.get_packed_command(), by_hand.get_packed_command());
        assert_eq!(
            packed(&args, "EVALSHA_RO", "s"),
            by_hand.get_packed_command()
        );
    }

    #[test]
    fn no_entries_and_long_entries() {
        let args = CallArgs::default();
        let mut by_hand = redis::cmd("EVALSHA");
        by_hand.arg("s").arg(0);
        assert_eq!(packed(&args, "EVALSHA", "s"), by_hand.get_packed_command());
        assert_eq!(
            args.eval_cmd("EVALSHA", "s").get_packed_command(),
            by_hand.get_packed_command()
        );

        let long = "x".repeat(123_456);
        let mut args = CallArgs::default();
        args.push(&long, Slot::Arg);
        args.push(&(0..12).collect::<Vec<i64>>(), Slot::Key);
        let mut by_hand = redis::cmd("EVALSHA");
        by_hand
            .arg("s")
            .arg(12)
            .arg((0..12).collect::<Vec<i64>>())
            .arg(&long);
        assert_eq!(packed(&args, "EVALSHA", "s"), by_hand.get_packed_command());
        assert_eq!(
            args.eval_cmd("EVALSHA", "s").get_packed_command(),
            by_hand.get_packed_command()
        );
    }

    #[test]
    fn decimal_digits() {
        for n in [0usize, 1, 9, 10, 99, 100, 12345, usize::MAX] {
            let mut digits = [0u8; 20];
            let len = decimal(n, &mut digits);
            assert_eq!(&digits[20 - len..], n.to_string().as_bytes());
        }
    }
}
