//! Masking: sensitive values never reach an agent, however its query is written.

pub mod catalog;
pub mod copy_text;
pub mod view_columns;
