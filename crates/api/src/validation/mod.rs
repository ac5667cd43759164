//! Validation shared by every kind; kind-specific rules live with each kind in `kinds/`.

pub mod meta;
