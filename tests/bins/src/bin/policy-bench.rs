//! What judging one statement costs the gateway, for `cargo xtask bench`:
//! `PolicyPhases::judge` (classification, then the decision against the bench
//! policy in `cordon_e2e::bench_policy`) over a typical OLTP mix, timed call
//! by call, as a session sees it:
//!
//! - `judge-uncached`: every text new, its literals varied as `pgbench -M
//!   simple` sends them (so no cache can answer: parse, walk, decide);
//! - `judge-uncached-cold`: the same on other new texts, with 4 MiB written
//!   (untimed) before each statement so the parser's tables are out of the
//!   L1 and L2 caches, as in a gateway sharing its cores with the kernel's
//!   network stack, the server and the clients;
//! - `judge-cached`: the same statements written with `$n` parameters and
//!   repeated, as prepared statements are (the session's cache answers;
//!   the decision still runs);
//! - `classify` and `parse`: `cordon::policy::classify` alone (parse and walk),
//!   and `pg_query::parse` alone, on the uncached texts, to show where the
//!   uncached time goes.
//!
//! Prints one line per measure and statement kind:
//! `policy-bench: MEASURE SET n=N p50_ns=X p99_ns=Y` (SET is `mix` or a kind).

use std::{
    hint::black_box,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use cordon::policy::{
    classify, decide, Classified, Dialect, IdentityRules, PolicyPhases, SessionContext,
};
use cordon_e2e::bench_policy::{GROUPS, IDENTITY, OTHER_GROUPS, OTHER_IDENTITY, POLICY};

/// Rounds of the mix measured (one statement of each kind per round), after
/// `WARMUP` rounds that are not.
const ROUNDS: u64 = 5_000;
const WARMUP: u64 = 200;

/// One kind of statement of the mix: its text with literals (distinct for
/// each `n`) and as a prepared statement.
struct Kind {
    name: &'static str,
    literal: fn(u64) -> String,
    prepared: &'static str,
}

/// The mix: pgbench's TPC-B-like transaction and its select-only statement,
/// then an application's statements (a join with ORDER BY/LIMIT, an INSERT
/// ... RETURNING, an UPDATE with two conditions, a SET of a setting). The
/// statements without literals carry a trace comment (as sqlcommenter adds)
/// so that each text is new in the uncached run.
const MIX: &[Kind] = &[
    Kind {
        name: "begin",
        literal: |n| format!("BEGIN /* trace {n} */"),
        prepared: "BEGIN",
    },
    Kind {
        name: "update-accounts",
        literal: |n| {
            format!(
                "UPDATE pgbench_accounts SET abalance = abalance + {} WHERE aid = {}",
                delta(n),
                aid(n)
            )
        },
        prepared: "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    },
    Kind {
        name: "select-accounts",
        literal: |n| {
            format!(
                "SELECT abalance FROM pgbench_accounts WHERE aid = {}",
                aid(n)
            )
        },
        prepared: "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    },
    Kind {
        name: "update-tellers",
        literal: |n| {
            format!(
                "UPDATE pgbench_tellers SET tbalance = tbalance + {} WHERE tid = {}",
                delta(n),
                n % 100 + 1
            )
        },
        prepared: "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    },
    Kind {
        name: "update-branches",
        literal: |n| {
            format!(
                "UPDATE pgbench_branches SET bbalance = bbalance + {} WHERE bid = {}",
                delta(n),
                n % 10 + 1
            )
        },
        prepared: "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    },
    Kind {
        name: "insert-history",
        literal: |n| {
            format!(
                "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) \
                 VALUES ({}, {}, {}, {}, CURRENT_TIMESTAMP)",
                n % 100 + 1,
                n % 10 + 1,
                aid(n),
                delta(n)
            )
        },
        prepared: "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) \
                   VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
    },
    Kind {
        name: "commit",
        literal: |n| format!("COMMIT /* trace {n} */"),
        prepared: "COMMIT",
    },
    Kind {
        name: "set",
        literal: |n| format!("SET statement_timeout = {}", 1_000 + n),
        prepared: "SET statement_timeout = 5000",
    },
    Kind {
        name: "join-order-limit",
        literal: |n| {
            format!(
                "SELECT o.id, o.total, o.created_at, c.name, c.email \
                 FROM orders o JOIN customers c ON c.id = o.customer_id \
                 WHERE o.customer_id = {} AND o.status = 'open' \
                 ORDER BY o.created_at DESC LIMIT 20",
                n
            )
        },
        prepared: "SELECT o.id, o.total, o.created_at, c.name, c.email \
                   FROM orders o JOIN customers c ON c.id = o.customer_id \
                   WHERE o.customer_id = $1 AND o.status = 'open' \
                   ORDER BY o.created_at DESC LIMIT 20",
    },
    Kind {
        name: "insert-returning",
        literal: |n| {
            format!(
                "INSERT INTO orders (customer_id, total, status, note) \
                 VALUES ({}, {}.{:02}, 'open', 'order {n}') RETURNING id, created_at",
                n % 5_000 + 1,
                n % 900 + 10,
                n % 100
            )
        },
        prepared: "INSERT INTO orders (customer_id, total, status, note) \
                   VALUES ($1, $2, 'open', $3) RETURNING id, created_at",
    },
    Kind {
        name: "update-orders",
        literal: |n| {
            format!("UPDATE orders SET status = 'paid', paid_at = now() WHERE id = {n} AND status = 'open'")
        },
        prepared:
            "UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1 AND status = 'open'",
    },
    Kind {
        name: "select-in",
        literal: |n| {
            format!(
                "SELECT order_id, sku, quantity FROM order_items WHERE order_id IN ({}, {}, {})",
                n,
                n + 1,
                n + 2
            )
        },
        prepared: "SELECT order_id, sku, quantity FROM order_items WHERE order_id = ANY($1)",
    },
];

fn aid(n: u64) -> u64 {
    n * 7_919 % 1_000_000 + 1
}

fn delta(n: u64) -> i64 {
    (n % 10_001) as i64 - 5_000
}

/// Per-call times, per kind and for the whole mix.
struct Samples {
    by_kind: Vec<Vec<u64>>,
}

impl Samples {
    fn new() -> Self {
        Samples {
            by_kind: MIX.iter().map(|_| Vec::new()).collect(),
        }
    }

    fn print(&self, measure: &str) {
        let mut all: Vec<u64> = self.by_kind.iter().flatten().copied().collect();
        line(measure, "mix", &mut all);
        for (kind, samples) in MIX.iter().zip(&self.by_kind) {
            line(measure, kind.name, &mut samples.clone());
        }
    }
}

fn line(measure: &str, set: &str, samples: &mut [u64]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "policy-bench: {measure} {set} n={} p50_ns={} p99_ns={}",
        samples.len(),
        at(0.5),
        at(0.99)
    );
}

/// Times `f` on every text of `texts[round][kind]`, rounds after the warm-up only.
fn measure(texts: &[Vec<String>], f: impl FnMut(&str)) -> Samples {
    measure_with(texts, f, || {})
}

/// Written between two statements of the cold measure: more than the
/// machine's L2 and a good part of its L3.
const EVICT_BYTES: usize = 4 << 20;

fn evict(buffer: &mut [u8]) {
    for line in buffer.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    black_box(buffer);
}

/// `measure`, running `between` (untimed) before each statement.
fn measure_with(
    texts: &[Vec<String>],
    mut f: impl FnMut(&str),
    mut between: impl FnMut(),
) -> Samples {
    let mut samples = Samples::new();
    for (round, texts) in texts.iter().enumerate() {
        for (kind, text) in texts.iter().enumerate() {
            between();
            let start = Instant::now();
            f(text);
            let took = start.elapsed();
            if round as u64 >= WARMUP {
                samples.by_kind[kind].push(nanos(took));
            }
        }
    }
    samples
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().try_into().unwrap_or(u64::MAX)
}

fn rules() -> Result<IdentityRules, String> {
    let text = format!(
        "[[endpoint]]\nname = \"main\"\naddresses = [\"127.0.0.1:5432\"]\ntls = \"disable\"\n\
         [[credential]]\nrole = \"cordon_bench\"\npassword = \"unused\"\n\
         [[identity]]\nname = \"{IDENTITY}\"\nrole = \"cordon_bench\"\ngroups = {GROUPS:?}\n\
         [[identity]]\nname = \"{OTHER_IDENTITY}\"\nrole = \"cordon_bench\"\ngroups = {OTHER_GROUPS:?}\n\
         {POLICY}"
    );
    let config = cordon::config::Config::parse(Path::new("policy-bench.toml"), &text)
        .map_err(|e| e.to_string())?;
    let groups: Vec<String> = GROUPS.iter().map(|g| g.to_string()).collect();
    Ok(config.policy.for_identity(IDENTITY, &groups))
}

fn phases(rules: &IdentityRules) -> PolicyPhases {
    PolicyPhases::new(rules.clone(), vec!["public".into()], Dialect::default())
}

/// Classifies and decides with no cache at all: the cost of a statement the
/// gateway has never seen in any shape.
fn judge_uncached(rules: &IdentityRules, context: &SessionContext, text: &str) {
    match classify(text, Dialect::default()) {
        Classified::Statements(statements) => {
            for statement in &statements {
                black_box(decide(rules, statement, context));
            }
        }
        Classified::Unparsable(why) => panic!("{text}: {why}"),
    }
}

fn main() -> ExitCode {
    let rules = match rules() {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("policy-bench: the bench policy does not load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut session = phases(&rules);
    // Every statement of the mix must be allowed: a refusal would time the
    // refusal path instead.
    for kind in MIX {
        for text in [(kind.literal)(0), kind.prepared.to_owned()] {
            if let Err(e) = session.judge(&text, true) {
                eprintln!("policy-bench: the bench policy refuses {text:?}: {e:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    let rounds = WARMUP + ROUNDS;
    let uncached: Vec<Vec<String>> = (1..=rounds)
        .map(|round| MIX.iter().map(|k| (k.literal)(round)).collect())
        .collect();
    let prepared: Vec<Vec<String>> = (0..rounds)
        .map(|_| MIX.iter().map(|k| k.prepared.to_owned()).collect())
        .collect();

    let started = Instant::now();
    let context = SessionContext {
        search_path: vec!["public".into()],
        ..Default::default()
    };
    measure(&uncached, |text| {
        judge_uncached(&rules, &context, black_box(text))
    })
    .print("judge-uncached");
    // The same new texts through the session: after the first of each shape,
    // a new literal reuses the shape's classification.
    let mut session = phases(&rules);
    measure(&uncached, |text| {
        black_box(session.judge(black_box(text), true)).expect("allowed");
    })
    .print("judge-new-literals");
    // New texts again, with the CPU caches cold (see the module's doc).
    let mut scribble = vec![0u8; EVICT_BYTES];
    let uncached_cold: Vec<Vec<String>> = (rounds + 1..=2 * rounds)
        .map(|round| MIX.iter().map(|k| (k.literal)(round)).collect())
        .collect();
    measure_with(
        &uncached_cold,
        |text| judge_uncached(&rules, &context, black_box(text)),
        || evict(&mut scribble),
    )
    .print("judge-uncached-cold");
    measure(&prepared, |text| {
        black_box(session.judge(black_box(text), true)).expect("allowed");
    })
    .print("judge-cached");
    let dialect = Dialect::default();
    measure(&uncached, |text| {
        black_box(classify(black_box(text), dialect));
    })
    .print("classify");
    measure(&uncached, |text| {
        let _ = black_box(pg_query::parse(
            black_box(text),
            pg_query::ParserOptions::DEFAULT,
        ));
    })
    .print("parse");
    eprintln!(
        "policy-bench: {} statements timed in {:.1} s",
        5 * ROUNDS * MIX.len() as u64,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
