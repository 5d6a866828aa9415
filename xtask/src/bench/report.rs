//! The bench's tables and its verdicts against the issues' targets.

use super::{Path, Point, CLIENTS, MODES};

fn find<'a>(points: &'a [Point], mode: &str, clients: u32, path: Path) -> Option<&'a Point> {
    points
        .iter()
        .find(|p| p.mode == mode && p.clients == clients && p.path == path)
}

pub fn print(points: &[Point], seconds: u32, scale: u32, sessions: usize) {
    println!(
        "\npgbench -S, {seconds} s per run, scale {scale}, sslmode=disable, same role and server on every path"
    );
    for mode in MODES {
        println!("\n-M {mode}");
        println!(
            "{:>7}  {:>10}  {:>10} {:>7}  {:>13} {:>7}  {:>17}  {:>20}",
            "clients",
            "direct",
            "cordon",
            "ratio",
            "pgbouncer",
            "ratio",
            "cordon CPU/10k q",
            "pgbouncer CPU/10k q"
        );
        for clients in CLIENTS {
            let Some(direct) = find(points, mode, clients, Path::Direct) else {
                continue;
            };
            let cordon = find(points, mode, clients, Path::Cordon);
            let bouncer = find(points, mode, clients, Path::PgBouncer);
            let tps = |p: Option<&Point>| p.map_or("-".into(), |p| format!("{:.0}", p.tps));
            let ratio =
                |p: Option<&Point>| p.map_or("-".into(), |p| format!("{:.2}x", p.tps / direct.tps));
            let cpu = |p: Option<&Point>| {
                p.and_then(|p| p.cpu_per_10k).map_or("-".into(), |d| {
                    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
                })
            };
            println!(
                "{clients:>7}  {:>10.0}  {:>10} {:>7}  {:>13} {:>7}  {:>17}  {:>20}",
                direct.tps,
                tps(cordon),
                ratio(cordon),
                tps(bouncer),
                ratio(bouncer),
                cpu(cordon),
                cpu(bouncer)
            );
        }
    }
    println!("\nlatency at 1 client (µs, p50 / p99):");
    for mode in MODES {
        let show = |path| {
            find(points, mode, 1, path)
                .and_then(|p| Some(format!("{} / {}", p.p50_us?, p.p99_us?)))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "  -M {mode:<8}  direct {:>13}   cordon {:>13}   pgbouncer {:>13}",
            show(Path::Direct),
            show(Path::Cordon),
            show(Path::PgBouncer)
        );
    }
    println!("(sessions through cordon: {sessions})");
}

/// Verdicts against the issues' targets, from every section, printed together.
#[derive(Default)]
pub struct Verdicts {
    lines: Vec<String>,
    missed: usize,
}

impl Verdicts {
    /// One target: `met` is `None` when it could not be measured.
    pub fn add(&mut self, what: String, met: Option<bool>) {
        let word = match met {
            Some(true) => "met",
            Some(false) => {
                self.missed += 1;
                "MISSED"
            }
            None => "not measured",
        };
        self.lines.push(format!("  {word:<12} {what}"));
    }

    pub fn missed(&self) -> usize {
        self.missed
    }

    pub fn print(&self) {
        println!("\ntargets:");
        for line in &self.lines {
            println!("{line}");
        }
    }
}

/// The throughput and latency targets.
pub fn targets(points: &[Point], verdicts: &mut Verdicts) {
    let mut verdict = |what: String, met: Option<bool>| verdicts.add(what, met);
    let ratio = |mode, clients| {
        Some(
            find(points, mode, clients, Path::Cordon)?.tps
                / find(points, mode, clients, Path::Direct)?.tps,
        )
    };
    for (mode, clients, floor, issue) in [("simple", 8, 0.80, 2), ("prepared", 16, 0.85, 3)] {
        let r = ratio(mode, clients);
        verdict(
            format!(
                "cordon >= {floor:.2}x direct at {clients} clients, -M {mode} (issue {issue}): {}",
                show_ratio(r)
            ),
            r.map(|r| r >= floor),
        );
    }
    for mode in MODES {
        for clients in CLIENTS {
            let cordon = find(points, mode, clients, Path::Cordon).map(|p| p.tps);
            let bouncer = find(points, mode, clients, Path::PgBouncer).map(|p| p.tps);
            let met = cordon.zip(bouncer).map(|(c, b)| c >= b);
            let detail = cordon
                .zip(bouncer)
                .map_or("-".into(), |(c, b)| format!("{c:.0} vs {b:.0} tps"));
            verdict(
                format!("cordon >= pgbouncer, -M {mode}, {clients} client(s) (issue 3): {detail}"),
                met,
            );
        }
    }
    for mode in MODES {
        let added = find(points, mode, 1, Path::Cordon)
            .and_then(|c| c.p50_us)
            .zip(find(points, mode, 1, Path::Direct).and_then(|d| d.p50_us))
            .map(|(c, d)| c as i64 - d as i64);
        verdict(
            format!(
                "added p50 latency <= 30 µs at 1 client, -M {mode} (issue 3): {}",
                added.map_or("-".into(), |a| format!("{a} µs"))
            ),
            added.map(|a| a <= 30),
        );
    }
}

fn show_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}
