//! A process's memory as the kernel accounts it, from `/proc/PID/smaps_rollup` and
//! `/proc/PID/status`. Only the process is measured, never its internals, so the
//! figures mean the same whatever the relay inside does. Kernel memory (socket
//! buffers) is not part of a process's resident set and is not counted.

use std::{
    fs,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

/// `/proc/PID/smaps_rollup`, in KiB (the kernel's "kB"); signed, so that the
/// difference of two is a `Footprint` too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Resident pages, file-backed (the binary, libraries) and anonymous.
    pub rss: i64,
    /// Resident pages, shared ones divided among the processes sharing them.
    pub pss: i64,
    /// Pages this process alone has written to.
    pub private_dirty: i64,
    /// Resident anonymous memory: heap, stacks, anonymous mappings.
    pub anonymous: i64,
}

impl Footprint {
    /// Reads `pid`'s smaps_rollup; panics if the process is gone.
    #[track_caller]
    pub fn of(pid: u32) -> Self {
        let path = format!("/proc/{pid}/smaps_rollup");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let kib = |name: &str| {
            kib_field(&text, name).unwrap_or_else(|| panic!("no {name} in {path}:\n{text}")) as i64
        };
        Self {
            rss: kib("Rss"),
            pss: kib("Pss"),
            private_dirty: kib("Private_Dirty"),
            anonymous: kib("Anonymous"),
        }
    }

    /// Growth from `before` to `self`, field by field (negative where it shrank).
    pub fn since(&self, before: &Footprint) -> Footprint {
        Footprint {
            rss: self.rss - before.rss,
            pss: self.pss - before.pss,
            private_dirty: self.private_dirty - before.private_dirty,
            anonymous: self.anonymous - before.anonymous,
        }
    }
}

/// `VmRSS` and `VmHWM` (the resident high-water mark) from `/proc/PID/status`, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resident {
    pub rss: u64,
    pub hwm: u64,
}

impl Resident {
    /// `None` once the process is gone.
    pub fn of(pid: u32) -> Option<Self> {
        let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        Some(Self {
            rss: kib_field(&text, "VmRSS")?,
            hwm: kib_field(&text, "VmHWM")?,
        })
    }
}

/// The value of a `Name:   123 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Samples a process's VmRSS on a thread of its own until stopped.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, usize)>,
}

/// What a [`PeakSampler`] saw.
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    /// The largest VmRSS sampled, in KiB.
    pub rss: u64,
    pub samples: usize,
}

impl PeakSampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut peak, mut samples) = (0, 0);
            while !stopped.load(Ordering::Relaxed) {
                if let Some(now) = Resident::of(pid) {
                    peak = peak.max(now.rss);
                    samples += 1;
                }
                std::thread::sleep(every);
            }
            (peak, samples)
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Peak {
        self.stop.store(true, Ordering::Relaxed);
        let (rss, samples) = self.thread.join().expect("the sampling thread panicked");
        Peak { rss, samples }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let footprint = Footprint::of(me);
        assert!(
            footprint.rss > 0 && footprint.anonymous > 0,
            "{footprint:?}"
        );
        let resident = Resident::of(me).unwrap();
        assert!(resident.hwm >= resident.rss, "{resident:?}");
        let peak = PeakSampler::start(me, Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(20));
        let peak = peak.stop();
        assert!(peak.samples > 0 && peak.rss > 0, "{peak:?}");
    }

    #[test]
    fn parses_kib_lines() {
        let text = "Rss:                1776 kB\nPss:                 531 kB\nPss_Dirty: 1 kB\n";
        assert_eq!(kib_field(text, "Pss"), Some(531));
        assert_eq!(kib_field(text, "Rss"), Some(1776));
        assert_eq!(kib_field(text, "Anonymous"), None);
    }
}
