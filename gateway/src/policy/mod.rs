//! SQL policy: every statement is read with PostgreSQL's own grammar
//! (`pg_query`), classified into actions on objects, and judged against the
//! operator's rules. Default deny; anything unreadable is refused.
//! docs/policy.md describes the model for operators.

pub mod builtins;
pub(crate) mod cache;
pub mod catalog;
pub mod classify;
pub mod decide;
pub mod explain;
pub mod facts;
mod procedural;
pub mod rules;
pub mod session;
mod statements;
pub(crate) mod walker;

#[cfg(test)]
mod tests;

pub use classify::{classify, Dialect};
pub use decide::{decide, Decision, Refusal, SessionContext};
pub use facts::{Action, Classified, Statement};
pub use rules::{IdentityRules, Policy};
pub use session::{PolicyFactory, PolicyPhases};
