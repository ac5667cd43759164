//! Label and field selectors: parsing, and matching objects held as JSON.

pub mod field;
pub mod label;

pub use field::FieldSelector;
pub use label::{LabelSelector, SelectorError};
