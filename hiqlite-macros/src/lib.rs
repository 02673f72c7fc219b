//! Proc-macros for Hiqlite: `#[derive(HiqliteRow)]`, `#[derive(HiqliteType)]`,
//! `#[derive(CacheName)]`, `query!`, `query_as!`, `query_scalar!`,
//! `query_file!`, `query_file_as!`, `query_file_scalar!` and `migrate!`.
//!
//! This crate only lists the entry points: each parses its input, calls into
//! `hiqlite_macros_core` (where all the logic lives, unit-tested) and turns an error into
//! `compile_error!`. Use them through the `hiqlite` crate, which re-exports them; the
//! documentation is in `hiqlite::typed` and docs/typed-api.md.

use proc_macro::TokenStream;

/// Implements `hiqlite::FromRow` by column name. Field attributes: `#[row(rename = "col")]`,
/// `#[row(skip)]`, `#[row(flatten)]`, `#[row(from_str)]`, `#[row(try_from = "i64")]`,
/// `#[row(with = "path::to::fn")]`.
#[proc_macro_derive(HiqliteRow, attributes(row))]
pub fn derive_hiqlite_row(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    hiqlite_macros_core::row::derive(&input).into()
}

/// Stores a type in one column: an enum of unit variants as TEXT (`#[hiqlite(rename_all =
/// "snake_case")]`, `#[hiqlite(rename = "x")]` on a variant) or as INTEGER
/// (`#[hiqlite(storage = "integer")]`: the discriminants), or a newtype `struct Id(i64);` as its
/// inner type. Implements `hiqlite::types::Decode`, `From<T> for hiqlite::Value` (also from
/// `&T`), `ColumnFit` and `ArgType`, so the type works as a field, a `query!` override and an
/// argument.
#[proc_macro_derive(HiqliteType, attributes(hiqlite))]
pub fn derive_hiqlite_type(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    hiqlite_macros_core::value_type::derive(&input).into()
}

/// Names the replicated caches with an enum of unit variants: implements `hiqlite::CacheName`
/// (`client.cache(Caches::Sessions)`) and `hiqlite::CacheNames` (`Caches::NAMES`). A variant's
/// name is its snake_case name; `#[cache(rename_all = "kebab-case")]` on the enum (or
/// lowercase, UPPERCASE, SCREAMING_SNAKE_CASE, camelCase, PascalCase) changes the rule,
/// `#[cache(rename = "x")]` on a variant overrides it.
#[proc_macro_derive(CacheName, attributes(cache))]
pub fn derive_cache_name(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    hiqlite_macros_core::cache_name::derive(&input).into()
}

/// `query!("SQL", args..)`: SQL checked at build time against the migrations; rows are an
/// anonymous record with one typed field per column. Reads run locally, writes through Raft.
#[proc_macro]
pub fn query(input: TokenStream) -> TokenStream {
    hiqlite_macros_core::query::expand(input.into(), hiqlite_macros_core::query::Mode::Query).into()
}

/// `query_as!(Type, "SQL", args..)`: like `query!`, reading rows into `Type` (`FromRow`); with
/// `#[derive(HiqliteRow)]` the columns are checked against the fields at compile time.
#[proc_macro]
pub fn query_as(input: TokenStream) -> TokenStream {
    hiqlite_macros_core::query::expand(input.into(), hiqlite_macros_core::query::Mode::QueryAs)
        .into()
}

/// `query_scalar!("SQL", args..)`: like `query!` for a statement that returns exactly one
/// column (a compile error says how many it returns otherwise); each row is that column's value,
/// typed as a `query!` field would be (`AS "x: T"`, `"x!"`, `"x?"` overrides included). The row
/// type is `hiqlite::typed::Scalar<T>`.
#[proc_macro]
pub fn query_scalar(input: TokenStream) -> TokenStream {
    hiqlite_macros_core::query::expand(input.into(), hiqlite_macros_core::query::Mode::Scalar)
        .into()
}

/// `query_file!("path/to/query.sql", args..)`: `query!` with the SQL in a file, named relative to
/// the directory of the crate's `Cargo.toml`; checked the same way, and the crate rebuilds when the
/// file changes.
#[proc_macro]
pub fn query_file(input: TokenStream) -> TokenStream {
    hiqlite_macros_core::query::expand_file(input.into(), hiqlite_macros_core::query::Mode::Query)
        .into()
}

/// `query_file_as!(Type, "path/to/query.sql", args..)`: `query_as!` with the SQL in a file (see
/// `query_file!`).
#[proc_macro]
pub fn query_file_as(input: TokenStream) -> TokenStream {
    hiqlite_macros_core::query::expand_file(input.into(), hiqlite_macros_core::query::Mode::QueryAs)
        .into()
}

/// `query_file_scalar!("path/to/query.sql", args..)`: `query_scalar!` with the SQL in a file (see
/// `query_file!`).
#[proc_macro]
pub fn query_file_scalar(input: TokenStream) -> TokenStream {
    hiqlite_macros_core::query::expand_file(input.into(), hiqlite_macros_core::query::Mode::Scalar)
        .into()
}

/// Embeds the migrations of the directory given, relative to the crate (`migrate!("db/migrations")`),
/// else of `HIQLITE_MIGRATIONS_DIR` if set (as `query!` does), else of `migrations/` (the crate's
/// own, or the nearest ancestor's): `migrate!()`. Expands to a `hiqlite::migrate::Migrations` to
/// pass to `Client::migrate`.
///
/// ```ignore
/// client.migrate(hiqlite::migrate!()).await?;
/// ```
///
/// Files are `<version>_<name>.sql`; each is embedded with its normalized text and checksum, and
/// a changed file rebuilds the crate. Cargo does not watch for *new* files: add a build script
/// with `println!("cargo:rerun-if-changed=migrations");` (the directory's path from the crate).
/// A bad file name, a version used twice or a missing directory is a compile error naming it.
#[proc_macro]
pub fn migrate(input: TokenStream) -> TokenStream {
    use hiqlite_macros_core::migrate_macro;
    migrate_macro::parse(input.into())
        .and_then(|input| migrate_macro::expand(&input, &migrate_macro::manifest_dir()?))
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}
