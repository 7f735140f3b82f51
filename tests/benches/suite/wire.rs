//! What the server ran: a summary of `INFO commandstats`. (Round trips and
//! bytes sent come from the harness's `Recording`.)

use script_cache_tests::CommandStats;

/// The script commands the server ran, e.g. `EVALSHA 2 (1 failed), SCRIPT LOAD 1`.
pub(crate) fn script_commands(stats: &CommandStats) -> String {
    let names = [
        ("evalsha", "EVALSHA"),
        ("evalsha_ro", "EVALSHA_RO"),
        ("eval", "EVAL"),
        ("script|load", "SCRIPT LOAD"),
        ("script|exists", "SCRIPT EXISTS"),
        ("command|info", "COMMAND INFO"),
    ];
    let mut parts = Vec::new();
    for (key, label) in names {
        let s = stats.get(key);
        if s.calls == 0 && s.rejected_calls == 0 {
            continue;
        }
        let errors = s.failed_calls + s.rejected_calls;
        if errors > 0 {
            parts.push(format!("{label} {} ({errors} failed)", s.calls));
        } else {
            parts.push(format!("{label} {}", s.calls));
        }
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Round trips as text: `[SCRIPT LOAD, EVALSHA] [GET]`.
pub(crate) fn trips_text(trips: &[Vec<String>]) -> String {
    trips
        .iter()
        .map(|t| {
            // Long pipelines: collapse runs of the same command.
            let mut parts: Vec<(String, usize)> = Vec::new();
            for name in t {
                match parts.last_mut() {
                    Some((last, n)) if last == name => *n += 1,
                    _ => parts.push((name.clone(), 1)),
                }
            }
            let inner = parts
                .into_iter()
                .map(|(name, n)| if n == 1 { name } else { format!("{n}×{name}") })
                .collect::<Vec<_>>()
                .join(", ");
            format!("[{inner}]")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
