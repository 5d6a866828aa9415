//! The bench's memory section: the daemon's growth per idle session (1,000 plain
//! and 1,000 TLS clients) and its peak resident growth while a 1 GiB result
//! passes through it (a SELECT and a COPY). The measurements are the end-to-end
//! fixtures' (`cordon_e2e::memory`), which the `memory` test asserts; here they
//! run on the release build and are reported.

use cordon_e2e::{
    memory::{
        self, IdleSessions, LargeResult, ResultPath, GIB_ROWS, LARGE_RESULT_TARGET_MB,
        SESSION_TARGET_KIB,
    },
    scenario::Scenario,
};

use super::report::Verdicts;

const SESSIONS: usize = 1000;

pub fn run(verdicts: &mut Verdicts) {
    println!(
        "bench: memory: {SESSIONS} idle sessions (plain, then TLS), then a 1 GiB result \
         (SELECT, then COPY); a fresh cordon for each"
    );
    let mut s = Scenario::builder()
        .max_connections(memory::max_connections_for(SESSIONS))
        .start();
    let idle: Vec<IdleSessions> = [false, true]
        .into_iter()
        .map(|tls| {
            let idle = memory::idle_sessions(&mut s, SESSIONS, tls);
            println!("bench: {idle}");
            idle
        })
        .collect();
    let results: Vec<LargeResult> = [ResultPath::Rows, ResultPath::Copy]
        .into_iter()
        .map(|path| {
            let result = memory::large_result(&mut s, path, GIB_ROWS);
            println!("bench: {result}");
            result
        })
        .collect();
    s.finish();
    print(&idle, &results);
    targets(&idle, &results, verdicts);
}

fn print(idle: &[IdleSessions], results: &[LargeResult]) {
    println!(
        "\nmemory of the cordon process (/proc/PID/smaps_rollup, /proc/PID/status; \
         kernel socket buffers not included)"
    );
    println!("\n{SESSIONS} idle sessions, growth per session (KiB)");
    println!(
        "{:>7}  {:>8}  {:>8}  {:>13}  {:>9}  {:>10}",
        "client", "Rss", "Pss", "Private_Dirty", "Anonymous", "opened in"
    );
    for run in idle {
        let [rss, pss, dirty, anon] = run.per_session_kib().map(|(_, kib)| kib);
        println!(
            "{:>7}  {rss:>8.1}  {pss:>8.1}  {dirty:>13.1}  {anon:>9.1}  {:>8.1} s",
            if run.tls { "TLS" } else { "plain" },
            run.open_time.as_secs_f64()
        );
    }
    println!("\n1 GiB result, discarded by the client as it arrives");
    println!(
        "{:<26}  {:>6}  {:>7}  {:>6}  {:>11}  {:>17}",
        "path", "GB", "time", "MB/s", "peak growth", "VmHWM before/after"
    );
    for r in results {
        println!(
            "{:<26}  {:>6.2}  {:>5.1} s  {:>6.0}  {:>8.1} MB  {:>7.1} / {:.1} MB",
            r.path.to_string(),
            r.bytes as f64 / 1e9,
            r.elapsed.as_secs_f64(),
            r.throughput_mb_s(),
            r.peak_growth_mb(),
            r.hwm_before_kib as f64 * 1024.0 / 1e6,
            r.hwm_after_kib as f64 * 1024.0 / 1e6
        );
    }
}

fn targets(idle: &[IdleSessions], results: &[LargeResult], verdicts: &mut Verdicts) {
    for run in idle {
        let kib = run.judged_kib();
        verdicts.add(
            format!(
                "under {SESSION_TARGET_KIB} KiB per idle session, {} {} sessions: {kib:.1} KiB",
                run.count,
                if run.tls { "TLS" } else { "plain" }
            ),
            Some(kib < SESSION_TARGET_KIB),
        );
    }
    for r in results {
        let mb = r.peak_growth_mb();
        verdicts.add(
            format!(
                "RSS grows under {LARGE_RESULT_TARGET_MB} MB during a 1 GiB result, {}: {mb:.1} MB",
                r.path
            ),
            Some(mb < LARGE_RESULT_TARGET_MB),
        );
    }
}
