//! What the build-time checks know about Rust value types: which column kinds a type can be read
//! from ([`ColumnFit`], for `query_as!` against `#[derive(HiqliteRow)]`) and which storage class
//! a value is bound as ([`ArgType`], for `query!`'s argument check). Pure vocabulary: the checks
//! themselves live in `typed` and in the macros.

/// Column kinds as bits: a result column has one; a field type accepts a set.
pub mod kind {
    pub const INTEGER: u32 = 1;
    pub const REAL: u32 = 1 << 1;
    pub const TEXT: u32 = 1 << 2;
    pub const BLOB: u32 = 1 << 3;
    /// NUMERIC affinity: integers or reals.
    pub const NUMERIC: u32 = 1 << 4;
    /// A declared `BOOL`/`BOOLEAN` column.
    pub const BOOL: u32 = 1 << 5;
    /// No declared type, or `ANY` in a STRICT table.
    pub const ANY: u32 = 1 << 6;
    /// Every non-null kind.
    pub const NON_NULL: u32 = INTEGER | REAL | TEXT | BLOB | NUMERIC | BOOL | ANY;
    /// The same kinds, when the column can be NULL.
    pub const NULLABLE_SHIFT: u32 = 8;
    pub const INTEGER_NULL: u32 = INTEGER << NULLABLE_SHIFT;
    pub const REAL_NULL: u32 = REAL << NULLABLE_SHIFT;
    pub const TEXT_NULL: u32 = TEXT << NULLABLE_SHIFT;
    pub const BLOB_NULL: u32 = BLOB << NULLABLE_SHIFT;
    pub const NUMERIC_NULL: u32 = NUMERIC << NULLABLE_SHIFT;
    pub const BOOL_NULL: u32 = BOOL << NULLABLE_SHIFT;
    pub const ANY_NULL: u32 = ANY << NULLABLE_SHIFT;
    /// Every kind, nullable or not (what `hiqlite::Value` accepts).
    pub const ALL: u32 = NON_NULL | (NON_NULL << NULLABLE_SHIFT);
    /// Not checked: a column typed with a custom override type, or a field whose type the
    /// check does not know (`#[row(with = ...)]`, types without [`ColumnFit`](super::ColumnFit)).
    pub const UNKNOWN: u32 = 0;
}

/// Which SQL column kinds a Rust type can be read from, for `query_as!`'s compile-time check.
///
/// Implemented for the integer types, `bool`, `f32`/`f64`, `String`, `Vec<u8>`,
/// [`Value`](crate::types::value::Value) and `Option<T>` of those. Implement it for your own [`Decode`](crate::types::Decode) types
/// to have them checked; fields of other types are not checked (their conversion still fails
/// at runtime with a message naming the column).
///
/// ```
/// use hiqlite::types::{kind, ColumnFit};
/// struct Cents(i64);
/// impl ColumnFit for Cents {
///     const ACCEPTS: u32 = kind::INTEGER;
/// }
/// ```
pub trait ColumnFit {
    /// Bits of [`kind`]: the column kinds this type can hold (`..._NULL` ones for NULL).
    const ACCEPTS: u32;
}

macro_rules! fit {
    ($bits:expr => $($t:ty),*) => {$(
        impl ColumnFit for $t {
            const ACCEPTS: u32 = $bits;
        }
    )*};
}
fit!(kind::INTEGER | kind::BOOL => i64, i32, i16, i8, isize, u32, u16, u8);
fit!(kind::BOOL | kind::INTEGER => bool);
fit!(kind::REAL | kind::NUMERIC | kind::INTEGER => f64, f32);
fit!(kind::TEXT => String);
fit!(kind::BLOB => Vec<u8>);
impl<const N: usize> ColumnFit for [u8; N] {
    const ACCEPTS: u32 = kind::BLOB;
}
fit!(kind::INTEGER | kind::BOOL => u64, usize);
fit!(kind::ALL => crate::types::value::Value);

impl<T: ColumnFit> ColumnFit for Option<T> {
    const ACCEPTS: u32 = T::ACCEPTS | (T::ACCEPTS << kind::NULLABLE_SHIFT);
}

/// SQLite's storage classes as types, so that a compile error can name the one an argument is
/// bound as ("it is bound as TEXT"). Uninhabited: only their names are used.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub mod storage {
    /// A 64-bit signed integer (also `bool`).
    pub enum INTEGER {}
    /// An 8-byte float.
    pub enum REAL {}
    /// UTF-8 text.
    pub enum TEXT {}
    /// Bytes.
    pub enum BLOB {}
    /// Decided by the value at runtime ([`Value`](crate::types::value::Value)): never refused.
    pub enum DYNAMIC {}
}

/// The storage class a value of this type is bound as, for `query!`'s check of arguments
/// against the columns they are compared with or written to (docs/typed-api.md, "Argument
/// types"). Implemented for every type `hiqlite::Value::from` accepts, `Option<T>` and
/// references (the storage of `T`), the feature types, and by `#[derive(HiqliteType)]`.
/// Arguments of a type without it are not checked.
///
/// ```
/// use hiqlite::types::{storage, ArgType};
/// struct Cents(i64);
/// impl From<Cents> for hiqlite::Value {
///     fn from(c: Cents) -> Self { hiqlite::Value::Integer(c.0) }
/// }
/// impl ArgType for Cents {
///     type Storage = storage::INTEGER;
/// }
/// ```
pub trait ArgType {
    /// One of the [`storage`] markers.
    type Storage;
}

macro_rules! arg_type {
    ($storage:ident => $($t:ty),*) => {$(
        impl ArgType for $t {
            type Storage = storage::$storage;
        }
    )*};
}
arg_type!(INTEGER => i64, i32, i16, i8, isize, u32, u16, u8, bool);
arg_type!(REAL => f64, f32);
arg_type!(TEXT => String, str);
arg_type!(BLOB => Vec<u8>, [u8]);
arg_type!(DYNAMIC => crate::types::value::Value);

impl<const N: usize> ArgType for [u8; N] {
    type Storage = storage::BLOB;
}

impl<T: ArgType> ArgType for Option<T> {
    type Storage = T::Storage;
}

impl<T: ArgType + ?Sized> ArgType for &T {
    type Storage = T::Storage;
}
