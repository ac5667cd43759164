//! Not written yet.

use crate::context::Context;

pub fn start(_ctx: &Context) {}
