//! Proc-macros for Hiqlite. The typed API (derive, query!, migrate!) lands with issue 3.
