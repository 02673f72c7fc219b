//! Compile-time checks of `query_as!` against a `#[derive(HiqliteRow)]` struct.
//!
//! The derive records the struct's shape (each field's column and which column kinds its type
//! can hold); `query_as!` records its result columns (name, kind, nullability). A `const`
//! evaluated by the compiler compares the two and fails the build with a message naming the
//! column and the field. A proc-macro cannot see another item's fields, so the comparison runs
//! in the type system's const evaluation rather than in the macro.

use std::marker::PhantomData;

use crate::types::sql_type::{kind, ColumnFit};

/// One field of a derived struct.
#[derive(Debug)]
pub struct FieldShape {
    pub field: &'static str,
    pub column: &'static str,
    pub ty: &'static str,
    /// [`ColumnFit::ACCEPTS`] of the type the column is read as, or [`kind::UNKNOWN`].
    pub accepts: u32,
}

/// The columns a derived struct reads. `nested` are its `#[row(flatten)]` fields: `None` when
/// the nested type implements `FromRow` by hand (its columns are unknown).
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    pub fields: &'static [FieldShape],
    pub nested: &'static [Option<&'static Shape>],
}

/// Implemented by `#[derive(HiqliteRow)]`.
pub trait RowShape {
    const SHAPE: &'static Shape;
}

/// One result column of a `query_as!`.
#[derive(Debug)]
pub struct ResultColumn {
    pub name: &'static str,
    /// One bit of [`kind`], or [`kind::UNKNOWN`].
    pub kind: u32,
}

/// Looks up optional traits of a concrete type at compile time: `Probe::<T>::ACCEPTS` is
/// `T::ACCEPTS` when `T: ColumnFit` and [`kind::UNKNOWN`] otherwise (inherent associated items
/// win over trait ones; the trait [`ProbeFallback`] supplies the default).
pub struct Probe<T: ?Sized>(PhantomData<T>);

impl<T: ColumnFit + ?Sized> Probe<T> {
    pub const ACCEPTS: u32 = T::ACCEPTS;
}

impl<T: RowShape + ?Sized> Probe<T> {
    pub const SHAPE: Option<&'static Shape> = Some(T::SHAPE);
}

/// The defaults of [`Probe`] for types without `ColumnFit` / `RowShape`.
pub trait ProbeFallback {
    const ACCEPTS: u32 = kind::UNKNOWN;
    const SHAPE: Option<&'static Shape> = None;
}

impl<T: ?Sized> ProbeFallback for Probe<T> {}

/// Compares a `query_as!`'s result columns with the row type's shape. Runs in a `const` the
/// macro emits; a mismatch comes back as a message (naming the column and the field) that the
/// generated code turns into a compile error.
pub const fn check_query_as(shape: Option<&'static Shape>, columns: &[ResultColumn]) -> Verdict {
    let Some(shape) = shape else {
        return Verdict(None);
    };
    let complete = is_complete(shape);
    let mut i = 0;
    while i < columns.len() {
        let col = &columns[i];
        match find(shape, col.name) {
            Some((owner, field)) => {
                if let Some(m) = check_fit(owner, field, col) {
                    return Verdict(Some(m));
                }
            }
            None if complete => {
                let mut m = Msg::new();
                m.push("query_as!: the query returns column \"");
                m.push(col.name);
                m.push("\", but `");
                m.push(shape.name);
                m.push("` has no field for it: add a field `");
                m.push(col.name);
                m.push("` (or `#[row(rename = \"");
                m.push(col.name);
                m.push("\")]` on a field), or drop the column from the query");
                return Verdict(Some(m));
            }
            None => {}
        }
        i += 1;
    }
    Verdict(check_fields_returned(shape, columns))
}

/// The outcome of [`check_query_as`].
pub struct Verdict(Option<Msg>);

impl Verdict {
    /// The reason the row type does not fit, if it does not.
    pub const fn message(&self) -> Option<&str> {
        match &self.0 {
            Some(m) => Some(m.as_str()),
            None => None,
        }
    }
}

/// Every field of `shape` (nested ones included) must be among `columns`.
const fn check_fields_returned(shape: &'static Shape, columns: &[ResultColumn]) -> Option<Msg> {
    let mut i = 0;
    while i < shape.fields.len() {
        let field = &shape.fields[i];
        let mut found = false;
        let mut j = 0;
        while j < columns.len() {
            if eq_ignore_case(columns[j].name, field.column) {
                found = true;
            }
            j += 1;
        }
        if !found {
            let mut m = Msg::new();
            m.push("query_as!: field `");
            m.push(shape.name);
            m.push(".");
            m.push(field.field);
            m.push("` reads column \"");
            m.push(field.column);
            m.push("\", which this query does not return: select it (or alias a column `AS ");
            m.push(field.column);
            m.push("`), or mark the field `#[row(skip)]`");
            return Some(m);
        }
        i += 1;
    }
    let mut n = 0;
    while n < shape.nested.len() {
        if let Some(nested) = shape.nested[n] {
            if let Some(m) = check_fields_returned(nested, columns) {
                return Some(m);
            }
        }
        n += 1;
    }
    None
}

const fn check_fit(
    owner: &'static Shape,
    field: &'static FieldShape,
    col: &ResultColumn,
) -> Option<Msg> {
    if col.kind == kind::UNKNOWN || field.accepts == kind::UNKNOWN || col.kind & field.accepts != 0
    {
        return None;
    }
    let nullable = col.kind >> kind::NULLABLE_SHIFT;
    let mut m = Msg::new();
    m.push("query_as!: column \"");
    m.push(col.name);
    if nullable != 0 && nullable & field.accepts != 0 {
        m.push("\" can be NULL (no NOT NULL constraint, or the nullable side of an outer join), but field `");
        m.push(owner.name);
        m.push(".");
        m.push(field.field);
        m.push("` has type `");
        m.push(field.ty);
        m.push("`: make it `Option<");
        m.push(field.ty);
        m.push(">`, or assert the column is never NULL with `AS \"");
        m.push(col.name);
        m.push("!\"`");
    } else {
        m.push("\" is ");
        push_kind(&mut m, col.kind);
        m.push(", which field `");
        m.push(owner.name);
        m.push(".");
        m.push(field.field);
        m.push("` of type `");
        m.push(field.ty);
        m.push("` cannot hold (it reads ");
        push_kinds(&mut m, field.accepts & kind::NON_NULL);
        m.push("): change the field's type, or give the column a type with `AS \"");
        m.push(col.name);
        m.push(": Type\"`");
    }
    Some(m)
}

/// The field reading `column`, searched in `shape` then in its flattened fields.
const fn find(
    shape: &'static Shape,
    column: &str,
) -> Option<(&'static Shape, &'static FieldShape)> {
    let mut i = 0;
    while i < shape.fields.len() {
        if eq_ignore_case(shape.fields[i].column, column) {
            return Some((shape, &shape.fields[i]));
        }
        i += 1;
    }
    let mut n = 0;
    while n < shape.nested.len() {
        if let Some(nested) = shape.nested[n] {
            if let Some(found) = find(nested, column) {
                return Some(found);
            }
        }
        n += 1;
    }
    None
}

/// Whether every flattened field's columns are known.
const fn is_complete(shape: &'static Shape) -> bool {
    let mut n = 0;
    while n < shape.nested.len() {
        match shape.nested[n] {
            Some(nested) if is_complete(nested) => {}
            _ => return false,
        }
        n += 1;
    }
    true
}

const fn eq_ignore_case(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

const KIND_NAMES: [&str; 7] = [
    "INTEGER",
    "REAL",
    "TEXT",
    "BLOB",
    "NUMERIC",
    "BOOL",
    "ANY (untyped)",
];

const fn push_kind(m: &mut Msg, bits: u32) {
    let (nullable, bits) = if bits >= 1 << kind::NULLABLE_SHIFT {
        (true, bits >> kind::NULLABLE_SHIFT)
    } else {
        (false, bits)
    };
    if nullable {
        m.push("a nullable ");
    } else {
        m.push("a non-null ");
    }
    push_kinds(m, bits);
    m.push(" column");
}

const fn push_kinds(m: &mut Msg, bits: u32) {
    let mut first = true;
    let mut i = 0;
    while i < KIND_NAMES.len() {
        if bits & (1 << i) != 0 {
            if !first {
                m.push(" or ");
            }
            m.push(KIND_NAMES[i]);
            first = false;
        }
        i += 1;
    }
}

/// A message assembled at compile time (no allocation in `const`).
struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    const fn new() -> Msg {
        Msg {
            buf: [0; 1024],
            len: 0,
        }
    }

    /// Appends `s` whole, or nothing if it does not fit (so the text stays valid UTF-8).
    const fn push(&mut self, s: &str) {
        let bytes = s.as_bytes();
        if self.len + bytes.len() > self.buf.len() {
            return;
        }
        let mut i = 0;
        while i < bytes.len() {
            self.buf[self.len + i] = bytes[i];
            i += 1;
        }
        self.len += bytes.len();
    }

    const fn as_str(&self) -> &str {
        let (text, _) = self.buf.split_at(self.len);
        match std::str::from_utf8(text) {
            Ok(message) => message,
            Err(_) => "query_as!: the result columns do not fit the row type",
        }
    }
}
