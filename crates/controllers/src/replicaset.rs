//! Not written yet.

use crate::context::Context;

pub fn start_replicasets(_ctx: &Context) {}
pub fn start_replication_controllers(_ctx: &Context) {}
