//! The parameter values a session's Binds gave its portals, kept until the Execute
//! that runs each portal is recorded.

use std::collections::VecDeque;

use crate::protocol::frontend::Parameters;

/// Portals remembered at once. Drivers execute right after binding, nearly always
/// the unnamed portal; an older portal is forgotten (its Execute is recorded without
/// values, marked truncated), so a client cannot grow this without limit. Their
/// values together are also held to the byte cap (see [`BoundPortals::bind`]).
const PORTALS_KEPT: usize = 16;

/// One portal's values, as recorded: text as sent, binary as `\x` hex.
#[derive(Debug, Default)]
pub struct BoundValues {
    pub values: Vec<Option<String>>,
    /// Some values were left out: they passed the byte cap.
    pub truncated: bool,
    /// The kept values' bytes.
    bytes: usize,
}

#[derive(Debug, Default)]
pub struct BoundPortals {
    portals: VecDeque<(String, BoundValues)>,
}

impl BoundPortals {
    /// Keeps what `portal` was bound with, up to `max_bytes` of values; older portals
    /// are forgotten while all kept values pass `max_bytes` together.
    pub fn bind(&mut self, portal: &str, parameters: &Parameters<'_>, max_bytes: usize) {
        let at = self.portals.iter().position(|(name, _)| name == portal);
        let mut entry = match at.and_then(|i| self.portals.remove(i)) {
            Some(entry) => entry,
            None => (portal.to_owned(), BoundValues::default()),
        };
        keep(&mut entry.1, parameters, max_bytes);
        if self.portals.len() == PORTALS_KEPT {
            self.portals.pop_front();
        }
        let mut total: usize = self.portals.iter().map(|(_, v)| v.bytes).sum();
        total += entry.1.bytes;
        while total > max_bytes {
            let Some((_, oldest)) = self.portals.pop_front() else {
                break;
            };
            total -= oldest.bytes;
        }
        self.portals.push_back(entry);
    }

    /// What `portal` was bound with; `None` when it is not remembered (never bound,
    /// or forgotten since: see [`PORTALS_KEPT`]).
    pub fn values_of(&self, portal: &str) -> Option<&BoundValues> {
        self.portals
            .iter()
            .rev()
            .find(|(name, _)| name == portal)
            .map(|(_, values)| values)
    }
}

/// The values of `parameters` (a fast-path call's arguments) kept up to `max_bytes`.
pub fn kept(parameters: &Parameters<'_>, max_bytes: usize) -> BoundValues {
    let mut out = BoundValues::default();
    keep(&mut out, parameters, max_bytes);
    out
}

/// Fills `out` with the values of `parameters` while their total stays within
/// `max_bytes`; the first that would pass it ends the keeping.
fn keep(out: &mut BoundValues, parameters: &Parameters<'_>, max_bytes: usize) {
    out.values.clear();
    out.truncated = false;
    out.bytes = 0;
    for (binary, value) in parameters.iter() {
        let size = value.map_or(0, <[u8]>::len);
        if out.bytes + size > max_bytes {
            out.truncated = true;
            return;
        }
        out.bytes += size;
        out.values
            .push(value.map(|v| super::session::show(v, binary)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frontend::{bind_message_for_test, decode_bind};

    fn bind(portals: &mut BoundPortals, portal: &str, values: &[Option<&str>], max: usize) {
        let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.map(str::as_bytes)).collect();
        let message = bind_message_for_test(portal, &[0], &values);
        let decoded = decode_bind(&message[5..]).unwrap();
        portals.bind(portal, &decoded.parameters, max);
    }

    fn values(portals: &BoundPortals, portal: &str) -> Option<(Vec<Option<String>>, bool)> {
        portals
            .values_of(portal)
            .map(|b| (b.values.clone(), b.truncated))
    }

    #[test]
    fn a_portal_keeps_its_latest_values_within_the_cap() {
        let mut portals = BoundPortals::default();
        bind(&mut portals, "", &[Some("42"), None], 100);
        assert_eq!(
            values(&portals, ""),
            Some((vec![Some("42".into()), None], false))
        );
        // Bound again: only the new values.
        bind(&mut portals, "", &[Some("7")], 100);
        assert_eq!(values(&portals, ""), Some((vec![Some("7".into())], false)));
        // Over the cap: the values before it, marked.
        bind(
            &mut portals,
            "",
            &[Some("abc"), Some("defgh"), Some("i")],
            6,
        );
        assert_eq!(values(&portals, ""), Some((vec![Some("abc".into())], true)));
        assert_eq!(values(&portals, "other"), None);
    }

    #[test]
    fn only_the_newest_portals_are_remembered() {
        let mut portals = BoundPortals::default();
        for n in 0..=PORTALS_KEPT {
            bind(&mut portals, &format!("p{n}"), &[Some("1")], 100);
        }
        assert_eq!(values(&portals, "p0"), None);
        assert!(values(&portals, "p1").is_some());
        // Binding a remembered portal again makes it the newest.
        bind(&mut portals, "p1", &[Some("2")], 100);
        bind(&mut portals, "new", &[], 100);
        assert_eq!(
            values(&portals, "p1"),
            Some((vec![Some("2".into())], false))
        );
        assert_eq!(values(&portals, "p2"), None);
        assert_eq!(values(&portals, "new"), Some((vec![], false)));
    }

    #[test]
    fn the_portals_values_together_stay_within_the_cap() {
        let mut portals = BoundPortals::default();
        bind(&mut portals, "a", &[Some("1234")], 10);
        bind(&mut portals, "b", &[Some("1234")], 10);
        assert!(values(&portals, "a").is_some());
        // 12 bytes together: the oldest goes.
        bind(&mut portals, "c", &[Some("1234")], 10);
        assert_eq!(values(&portals, "a"), None);
        assert!(values(&portals, "b").is_some());
        assert_eq!(
            values(&portals, "c"),
            Some((vec![Some("1234".into())], false))
        );
    }
}
