//! The SQL functions Hiqlite adds to SQLite on every node (`hiqlite/src/store/sqlite/math.rs`
//! registers them; `query!` declares the same on its build-time schema).

/// SQLite's math functions (`SQLITE_ENABLE_MATH_FUNCTIONS`, missing from the bundled SQLite), as
/// name and number of arguments.
pub const MATH_FUNCTIONS: &[(&str, i32)] = &[
    ("acos", 1),
    ("acosh", 1),
    ("asin", 1),
    ("asinh", 1),
    ("atan", 1),
    ("atan2", 2),
    ("atanh", 1),
    ("ceil", 1),
    ("ceiling", 1),
    ("cos", 1),
    ("cosh", 1),
    ("degrees", 1),
    ("exp", 1),
    ("floor", 1),
    ("ln", 1),
    ("log", 1),
    ("log", 2),
    ("log10", 1),
    ("log2", 1),
    ("mod", 2),
    ("pi", 0),
    ("pow", 2),
    ("power", 2),
    ("radians", 1),
    ("sin", 1),
    ("sinh", 1),
    ("sqrt", 1),
    ("tan", 1),
    ("tanh", 1),
    ("trunc", 1),
];
