//! Client-side machinery shared by the components that talk to the cluster through the API
//! (scheduler, controllers): shared [`informer`]s, a deduplicating [`queue`] of keys with
//! back-off, [`worker`]s that drain it, and an [`events`] recorder with upstream's series.

pub mod events;
pub mod informer;
pub mod informers;
pub mod queue;
pub mod worker;

pub use informer::{Change, Informer, key_of, split_key};
pub use informers::Informers;
pub use queue::WorkQueue;
pub use worker::{Next, run_workers};
