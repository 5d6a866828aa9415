//! Reading the daemon's text log (tracing's `fmt` output without ANSI colours):
//! `2025-01-01T00:00:00Z  INFO session{id=1 peer=..}: cordon::session: session opened identity=ci pid=42 ...`

/// Lines whose text contains `needle` (e.g. the message `session opened`).
pub fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// The value of `name=...` in a log line (span fields or event fields), unquoting
/// Debug-formatted strings. The last occurrence wins: event fields follow span fields.
pub fn field(line: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let mut found = None;
    let mut start = 0;
    while let Some(pos) = line[start..].find(&key) {
        let at = start + pos;
        let boundary = at == 0 || matches!(line.as_bytes()[at - 1], b' ' | b'{' | b',');
        let value_start = at + key.len();
        if boundary {
            found = Some(read_value(&line[value_start..]));
        }
        start = value_start;
    }
    found
}

fn read_value(rest: &str) -> String {
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => break,
                c => out.push(c),
            }
        }
        out
    } else {
        rest.split([' ', '}'])
            .next()
            .unwrap_or("")
            .trim_end_matches(':')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2025-01-01T00:00:00.000000Z  INFO session{id=3 peer=127.0.0.1:4242}: cordon::session: \
                        session opened identity=agent cgroup=/cordon-test-1-0/agent pid=42 uid=0 comm=psql \
                        destination=127.0.0.2:5432 dropped_parameters=[] reason=\"a \\\"quoted\\\" reason\"";

    #[test]
    fn reads_fields() {
        assert_eq!(field(LINE, "identity").as_deref(), Some("agent"));
        assert_eq!(
            field(LINE, "cgroup").as_deref(),
            Some("/cordon-test-1-0/agent")
        );
        assert_eq!(field(LINE, "id").as_deref(), Some("3"));
        assert_eq!(field(LINE, "pid").as_deref(), Some("42"));
        assert_eq!(field(LINE, "comm").as_deref(), Some("psql"));
        assert_eq!(
            field(LINE, "destination").as_deref(),
            Some("127.0.0.2:5432")
        );
        assert_eq!(
            field(LINE, "reason").as_deref(),
            Some("a \"quoted\" reason")
        );
        assert_eq!(field(LINE, "missing"), None);
    }
}
