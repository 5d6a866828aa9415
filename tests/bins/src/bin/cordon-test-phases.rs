//! The `cordon` program with test phases plugged into its protocol engine, so
//! end-to-end tests can refuse, hold and rewrite on cue with real clients:
//!
//! - `/*refuse*/` in a Query or Parse: refused (42501) when sent;
//! - `/*refuse-execute*/` in a prepared statement: allowed at Parse,
//!   refused at every Execute;
//! - `/*hold*/`: held for 300 ms, then allowed; `/*hold-refuse*/`: held,
//!   then refused; `/*hold-long*/`: held for 60 s (for cancelling);
//! - a text value `cordon-secret` in any result row becomes `masked!`.

use std::{process::ExitCode, sync::Arc, time::Duration};

use bytes::BytesMut;
use cordon::{
    engine::{Columns, PhaseFactory, Phases, Request, SessionFacts, Verdict},
    protocol::{backend::GatewayError, server_messages::encode_data_row},
};

const SECRET: &[u8] = b"cordon-secret";
const MASK: &[u8] = b"masked!";
const HOLD: Duration = Duration::from_millis(300);

struct TestPhases;

fn refused(marker: &str) -> Verdict {
    Verdict::Refuse(
        GatewayError::error(
            "42501",
            format!("cordon: test phase refused the statement ({marker})"),
        )
        .with_hint("remove the marker"),
    )
}

impl Phases for TestPhases {
    fn classify(&mut self, request: &Request<'_>) -> Verdict {
        let (text, at_execute) = match request {
            Request::Query { text } | Request::Parse { text, .. } => (*text, false),
            Request::Execute {
                text: Some(text), ..
            } => (*text, true),
            Request::Execute { text: None, .. } => return Verdict::Allow,
            Request::FunctionCall { .. } => return refused("fast-path function call"),
        };
        if at_execute {
            if text.contains("/*refuse-execute*/") {
                return refused("/*refuse-execute*/");
            }
            return Verdict::Allow;
        }
        if text.contains("/*refuse*/") {
            return refused("/*refuse*/");
        }
        if text.contains("/*hold-refuse*/") {
            return Verdict::Hold(Box::pin(async {
                tokio::time::sleep(HOLD).await;
                refused("/*hold-refuse*/")
            }));
        }
        if text.contains("/*hold-long*/") {
            return Verdict::Hold(Box::pin(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Verdict::Allow
            }));
        }
        if text.contains("/*hold*/") {
            return Verdict::Hold(Box::pin(async {
                tokio::time::sleep(HOLD).await;
                Verdict::Allow
            }));
        }
        Verdict::Allow
    }

    fn rewrites_rows(&self) -> bool {
        true
    }

    fn rewrite_row(
        &mut self,
        _columns: Option<&Columns>,
        cells: &[Option<&[u8]>],
        out: &mut BytesMut,
    ) -> bool {
        if !cells.contains(&Some(SECRET)) {
            return false;
        }
        encode_data_row(
            out,
            cells
                .iter()
                .map(|c| if *c == Some(SECRET) { Some(MASK) } else { *c }),
        );
        true
    }
}

struct Factory;

impl PhaseFactory for Factory {
    fn for_session(&self, _session: &SessionFacts<'_>) -> Box<dyn Phases> {
        Box::new(TestPhases)
    }
}

fn main() -> ExitCode {
    cordon::app::main_with(Arc::new(Factory))
}
