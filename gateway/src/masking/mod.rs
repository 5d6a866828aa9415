//! Masking: sensitive values never reach an agent unless a rule exempts it,
//! however its query is written.
//!
//! The pure parts: the operator's rules (`rules`: which columns, which mask,
//! who is exempt, which uses of a masked column are tolerated), the masks
//! themselves (`masks`: what is written in place of a value, per cell, in
//! both wire formats) and the content detectors (`detectors`: a second
//! layer that redacts emails, card numbers, keys and the like inside any
//! text value). The wire side: where result columns come from (`catalog`,
//! `view_columns`), COPY rows (`copy_text`, `copy_plan`), and the session
//! phase that puts it together (`phases`). docs/masking.md describes the
//! configuration for operators.

pub mod catalog;
mod check;
pub mod copy_plan;
pub mod copy_text;
pub mod detectors;
pub mod explain;
pub mod masks;
pub mod phases;
pub mod rules;
pub mod uses;
pub mod view_columns;

pub use detectors::{DetectorSet, Kind, KindSet};
pub use masks::{HashKey, Mask};
pub use rules::{ColumnPattern, DetectRule, IdentityMasks, MaskPolicy, MaskRule};
