//! The shared vocabulary, at the bottom of the house: SQL values, the replicated command and its
//! results, write keys, openraft's type configuration, and members. It imports nothing of the
//! crate, so every room above (config, net, store, raft, engine, client) can speak it without
//! knowing the others.

pub mod backup;
pub mod cache;
pub mod cache_name;
pub mod command;
pub mod decode;
pub mod disk;
pub mod external;
pub mod format;
pub mod members;
pub mod params;
pub mod raft;
pub mod sql_error;
pub mod sql_type;
pub mod value;
pub mod write_key;

pub use self::decode::{Decode, DecodeError, ValueRef};
pub use self::sql_type::{kind, storage, ArgType, ColumnFit};

#[cfg(feature = "json")]
pub use self::external::Json;
pub use self::external::{UnixSeconds, UnixTime};
/// The crates whose types the features add, for paths in `query!` expansions and for users who
/// want the same version.
#[cfg(feature = "chrono")]
pub use chrono;
#[cfg(feature = "json")]
pub use serde_json;
#[cfg(feature = "time")]
pub use time;
#[cfg(feature = "uuid")]
pub use uuid;
