//! SQL column types → Rust types, and the alias overrides (`AS "x!"`, `AS "x?"`,
//! `AS "x: Type"`).
//!
//! Rules (documented in docs/typed-api.md):
//! - STRICT tables: the declared type is exact (`INTEGER`/`INT` → `i64`, `REAL` → `f64`,
//!   `TEXT` → `String`, `BLOB` → `Vec<u8>`, `ANY` → `hiqlite::Value`).
//! - Other tables: SQLite's affinity rules on the declared type (section 3.1 of "Datatypes In
//!   SQLite"): contains `INT` → `i64`; `CHAR`, `CLOB` or `TEXT` → `String`; `BLOB` → `Vec<u8>`;
//!   no type → `hiqlite::Value`; `REAL`, `FLOA` or `DOUB` → `f64`; anything else has NUMERIC
//!   affinity: `BOOL...` → `bool`, the rest (`NUMERIC`, `DECIMAL`, `DATE`, ...) → `f64`, because
//!   such a column holds integers or reals and `f64` reads both.

use proc_macro2::TokenStream;
use quote::quote;

/// What kind of value a result column holds, as far as the schema tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlKind {
    Integer,
    Real,
    Text,
    Blob,
    /// NUMERIC affinity (not boolean): integers or reals.
    Numeric,
    /// A declared `BOOL`/`BOOLEAN` column: 0 or 1.
    Bool,
    /// No declared type, or `ANY` in a STRICT table: any value.
    Any,
}

impl SqlKind {
    /// The kind of a column declared with type `decl` (case-insensitive).
    pub fn from_declared(decl: &str, strict: bool) -> SqlKind {
        let d = decl.trim().to_ascii_uppercase();
        if strict {
            match d.as_str() {
                "INT" | "INTEGER" => return SqlKind::Integer,
                "REAL" => return SqlKind::Real,
                "TEXT" => return SqlKind::Text,
                "BLOB" => return SqlKind::Blob,
                "ANY" => return SqlKind::Any,
                _ => {}
            }
        }
        if d.contains("INT") {
            SqlKind::Integer
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            SqlKind::Text
        } else if d.is_empty() {
            SqlKind::Any
        } else if d.contains("BLOB") {
            SqlKind::Blob
        } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            SqlKind::Real
        } else if d.contains("BOOL") {
            SqlKind::Bool
        } else {
            SqlKind::Numeric
        }
    }

    /// The Rust type a `query!` record field gets for a non-null column of this kind.
    pub fn rust_type(self) -> TokenStream {
        match self {
            SqlKind::Integer => quote!(i64),
            SqlKind::Real | SqlKind::Numeric => quote!(f64),
            SqlKind::Text => quote!(::std::string::String),
            SqlKind::Blob => quote!(::std::vec::Vec<u8>),
            SqlKind::Bool => quote!(bool),
            SqlKind::Any => quote!(::hiqlite::Value),
        }
    }

    /// Upper-case name used in messages and in the generated kind constants.
    pub fn name(self) -> &'static str {
        match self {
            SqlKind::Integer => "INTEGER",
            SqlKind::Real => "REAL",
            SqlKind::Text => "TEXT",
            SqlKind::Blob => "BLOB",
            SqlKind::Numeric => "NUMERIC",
            SqlKind::Bool => "BOOL",
            SqlKind::Any => "ANY",
        }
    }

    /// The constant in `hiqlite::typed::__private::kind` that `query_as!` checks fields with.
    pub fn constant(self, nullable: bool) -> TokenStream {
        let name = if nullable {
            format!("{}_NULL", self.name())
        } else {
            self.name().to_string()
        };
        let ident = syn::Ident::new(&name, proc_macro2::Span::call_site());
        quote!(::hiqlite::typed::__private::kind::#ident)
    }
}

/// The Rust type of a `query!` record field for a non-null column of `kind` whose table column
/// is declared `decl`. With hiqlite's features, a few declared type names (case-insensitive,
/// exactly) get the types of other crates, as sqlx's SQLite driver does:
///
/// | declared | `time` | `chrono` (without `time`) |
/// |---|---|---|
/// | `DATE` | `time::Date` | `chrono::NaiveDate` |
/// | `TIME` | `time::Time` | `chrono::NaiveTime` |
/// | `DATETIME`, `TIMESTAMP` | `time::OffsetDateTime` | `chrono::DateTime<Utc>` |
///
/// `UUID` → `uuid::Uuid` (`uuid`), `JSON` → `serde_json::Value` (`json`). Paths go through
/// `::hiqlite::types::*`, so the user's crate needs no dependency of its own.
pub fn column_rust_type(decl: Option<&str>, kind: SqlKind) -> TokenStream {
    decl.and_then(feature_type)
        .unwrap_or_else(|| kind.rust_type())
}

fn feature_type(decl: &str) -> Option<TokenStream> {
    let d = decl.trim().to_ascii_uppercase();
    let t = quote!(::hiqlite::types);
    match d.as_str() {
        "DATE" if cfg!(feature = "time") => Some(quote!(#t::time::Date)),
        "TIME" if cfg!(feature = "time") => Some(quote!(#t::time::Time)),
        "DATETIME" | "TIMESTAMP" if cfg!(feature = "time") => {
            Some(quote!(#t::time::OffsetDateTime))
        }
        "DATE" if cfg!(feature = "chrono") => Some(quote!(#t::chrono::NaiveDate)),
        "TIME" if cfg!(feature = "chrono") => Some(quote!(#t::chrono::NaiveTime)),
        "DATETIME" | "TIMESTAMP" if cfg!(feature = "chrono") => {
            Some(quote!(#t::chrono::DateTime<#t::chrono::Utc>))
        }
        "UUID" if cfg!(feature = "uuid") => Some(quote!(#t::uuid::Uuid)),
        "JSON" if cfg!(feature = "json") => Some(quote!(#t::serde_json::Value)),
        _ => None,
    }
}

/// A forced nullability in an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    /// `"x!"`: never NULL.
    NonNull,
    /// `"x?"`: may be NULL.
    Nullable,
}

/// What an alias like `"total?: i64"` says.
#[derive(Clone)]
pub struct Override {
    /// The column name without the override (`total`): the name the row has at runtime.
    pub name: String,
    pub force: Option<Force>,
    pub ty: Option<syn::Type>,
}

impl std::fmt::Debug for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ty = self.ty.as_ref().map(|t| quote!(#t).to_string());
        f.debug_struct("Override")
            .field("name", &self.name)
            .field("force", &self.force)
            .field("ty", &ty)
            .finish()
    }
}

/// Reads an override from a result column name. `Ok(None)` when the name has no override
/// syntax; an error when it has but the type does not parse.
pub fn parse_override(column: &str) -> Result<Option<Override>, String> {
    let (head, ty) = match column.split_once(':') {
        Some((head, ty)) => (head.trim_end(), Some(ty.trim())),
        None => (column, None),
    };
    let (name, force) = if let Some(n) = head.strip_suffix('!') {
        (n, Some(Force::NonNull))
    } else if let Some(n) = head.strip_suffix('?') {
        (n, Some(Force::Nullable))
    } else {
        (head, None)
    };
    if force.is_none() && ty.is_none() {
        return Ok(None);
    }
    // Only `identifier[!|?][: Type]` is override syntax; anything else is a plain column name.
    let mut chars = name.chars();
    let ident_like = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident_like {
        return Ok(None);
    }
    let ty =
        match ty {
            None => None,
            Some("") => {
                return Err(format!(
                    "the type override of \"{column}\" is empty; write e.g. \"{name}: i64\""
                ))
            }
            Some(t) => Some(syn::parse_str::<syn::Type>(t).map_err(|e| {
                format!("the type override of \"{column}\" is not a Rust type ({e})")
            })?),
        };
    Ok(Some(Override {
        name: name.to_string(),
        force,
        ty,
    }))
}

/// For a Rust type written in an override, the kind and nullability it stands for, so that
/// `query_as!` can still check the field; `None` for types it does not know (custom types are
/// trusted as written).
pub fn known_rust_type(ty: &syn::Type) -> Option<(SqlKind, bool)> {
    if let Some(inner) = crate::row::ast::option_inner(ty) {
        return known_rust_type(inner).map(|(k, _)| (k, true));
    }
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let name = last.ident.to_string();
    let kind = match name.as_str() {
        "i64" | "i32" | "i16" | "i8" | "isize" | "u32" | "u16" | "u8" => SqlKind::Integer,
        "f64" | "f32" => SqlKind::Real,
        "String" => SqlKind::Text,
        "bool" => SqlKind::Bool,
        "Value" => SqlKind::Any,
        "Vec" => {
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first() {
                Some(syn::GenericArgument::Type(syn::Type::Path(p))) if p.path.is_ident("u8") => {
                    SqlKind::Blob
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some((kind, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_rules() {
        let k = |d, strict| SqlKind::from_declared(d, strict);
        assert_eq!(k("INTEGER", false), SqlKind::Integer);
        assert_eq!(k("bigint", false), SqlKind::Integer);
        assert_eq!(k("VARCHAR(20)", false), SqlKind::Text);
        assert_eq!(k("", false), SqlKind::Any);
        assert_eq!(k("BLOB", false), SqlKind::Blob);
        assert_eq!(k("DOUBLE PRECISION", false), SqlKind::Real);
        assert_eq!(k("BOOLEAN", false), SqlKind::Bool);
        assert_eq!(k("DECIMAL(10,2)", false), SqlKind::Numeric);
        assert_eq!(k("DATETIME", false), SqlKind::Numeric);
        // "FLOATING POINT" contains INT: SQLite's rule 1 wins, as in SQLite.
        assert_eq!(k("FLOATING POINT", false), SqlKind::Integer);
        assert_eq!(k("ANY", true), SqlKind::Any);
        assert_eq!(k("INT", true), SqlKind::Integer);
    }

    #[test]
    fn overrides() {
        assert!(parse_override("name").unwrap().is_none());
        assert!(parse_override("count(*)").unwrap().is_none());
        assert!(parse_override("'a:b'").unwrap().is_none());
        let o = parse_override("total: i64").unwrap().unwrap();
        assert_eq!(o.name, "total");
        assert_eq!(o.force, None);
        assert!(o.ty.is_some());
        let o = parse_override("x!").unwrap().unwrap();
        assert_eq!((o.name.as_str(), o.force), ("x", Some(Force::NonNull)));
        let o = parse_override("x?: Option<String>").unwrap().unwrap();
        assert_eq!((o.name.as_str(), o.force), ("x", Some(Force::Nullable)));
        assert!(parse_override("x: not a type")
            .unwrap_err()
            .contains("not a Rust type"));
        assert!(parse_override("x:").unwrap_err().contains("empty"));
    }

    #[test]
    fn known_types() {
        let t = |s| known_rust_type(&syn::parse_str(s).unwrap());
        assert_eq!(t("i64"), Some((SqlKind::Integer, false)));
        assert_eq!(t("Option<String>"), Some((SqlKind::Text, true)));
        assert_eq!(t("Vec<u8>"), Some((SqlKind::Blob, false)));
        assert_eq!(t("UserId"), None);
    }
}
