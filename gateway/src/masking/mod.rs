//! Masking: sensitive values never reach an agent unless a rule exempts it.
//!
//! This module holds the pure parts: the operator's rules (`rules`: which
//! columns, which mask, who is exempt, which uses of a masked column are
//! tolerated), the masks themselves (`masks`: what is written in place of a
//! value, per cell, in both wire formats) and the content detectors
//! (`detectors`: a second layer that redacts emails, card numbers, keys and
//! the like inside any text value). docs/masking.md describes the
//! configuration for operators.

pub mod detectors;
pub mod masks;
pub mod rules;

pub use detectors::{DetectorSet, Kind, KindSet};
pub use masks::{HashKey, Mask};
pub use rules::{ColumnPattern, DetectRule, IdentityMasks, MaskPolicy, MaskRule};
