//! The replicated cache and distributed locks, above the engine: what runs on the leader to keep
//! them tidy. Their operations are applied by the state machine (`store::sqlite::cache`); the
//! client API is `client::cache` and `client::lock`; docs/cache.md describes all of it.

pub(crate) mod expirer;
