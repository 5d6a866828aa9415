//! Recording's cost: pgbench -S at 16 clients with sessions recorded versus
//! not (`[recording] enabled = false`). Every pgbench transaction is one
//! recorded statement, so the recording side's throughput is also the rate
//! of records the store sustains (each written to the journal before its result
//! is delivered, the journal synced every 10 ms: `[recording] sync = "periodic"`).

use anyhow::Result;
use cordon_e2e::bench_policy::POLICY;

use super::{
    ab::{self, Comparison, Setup},
    report::Verdicts,
    Database,
};

const TPS_RATIO_TARGET: f64 = 0.9;

pub fn throughput(db: &Database, seconds: u32, verdicts: &mut Verdicts) -> Result<()> {
    let on = Setup {
        label: "recording on",
        host: "127.0.0.1",
        program: None,
        toml: POLICY.to_owned(),
    };
    let off = Setup {
        label: "recording off",
        host: "127.0.0.2",
        program: None,
        toml: format!("{POLICY}\n[recording]\nenabled = false\n"),
    };
    let comparison = Comparison {
        name: "recording",
        what: "recording every statement (SQLite, journaled before each result, synced every 10 ms) vs not",
        clients: &[16],
        target: TPS_RATIO_TARGET,
    };
    ab::compare(db, seconds, &comparison, on, off, verdicts)
}
