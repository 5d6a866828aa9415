//! Masking: sensitive column values never reach an agent unmasked.

pub mod uses;
