//! Machine activation (placeholder).
pub mod rules;
