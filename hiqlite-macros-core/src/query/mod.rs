//! `query!`, `query_as!`, `query_scalar!` and their `query_file*!` forms: parse the input, find
//! and apply the migrations (cached), read the SQL (inline or from a file), prepare and describe
//! the statement, bind the arguments to its parameters, expand.
//!
//! - [`input`]: the macro input,
//! - [`sql_file`]: the SQL of the `query_file*!` macros,
//! - [`schema`]: the migrated in-memory database, cached per process,
//! - [`check`]: prepare + describe (types, nullability, reads vs writes),
//! - [`types`]: SQL types → Rust types, alias overrides,
//! - [`lex`]: the little SQL tokenizer `check` needs,
//! - [`mod@expand`]: the generated code,
//! - [`scalar`]: the row type of `query_scalar!`.

pub mod arg_types;
pub mod check;
pub mod expand;
pub mod functions;
pub mod input;
// The tokenizer lives in `hiqlite-shared` (the runtime resolves named parameters with it too);
// this path stays.
pub use hiqlite_shared::lex;
pub mod scalar;
pub mod schema;
pub mod sql_file;
pub mod types;

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use self::check::ParamSlot;
use self::input::{Arg, QueryInput};
pub use self::input::{Mode, Source};

/// The environment variable that points `query!` at a migrations directory (absolute, or
/// relative to the crate's `Cargo.toml`). A `migrations = "dir"` argument wins over it.
pub use crate::migrations::MIGRATIONS_ENV;

/// Where the macro runs: the crate's manifest directory and the override variable.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub manifest_dir: PathBuf,
    pub migrations_dir: Option<String>,
}

impl Env {
    /// Reads `CARGO_MANIFEST_DIR` (the current directory outside Cargo) and
    /// [`MIGRATIONS_ENV`].
    pub fn from_process() -> Env {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        Env {
            manifest_dir,
            migrations_dir: std::env::var(MIGRATIONS_ENV).ok().filter(|v| !v.is_empty()),
        }
    }
}

/// The whole macro: the expansion, or a `compile_error!` (which stands in for the expression,
/// so the user sees one error, not a cascade of type errors).
pub fn expand(tokens: TokenStream, mode: Mode) -> TokenStream {
    expand_from(tokens, mode, Source::Inline)
}

/// [`expand()`] for the `query_file*!` macros: the literal names a file holding the SQL.
pub fn expand_file(tokens: TokenStream, mode: Mode) -> TokenStream {
    expand_from(tokens, mode, Source::File)
}

fn expand_from(tokens: TokenStream, mode: Mode, source: Source) -> TokenStream {
    let result = QueryInput::parse_from(tokens, mode, source)
        .and_then(|input| try_expand(&input, mode, &Env::from_process()));
    match result {
        Ok(tokens) => tokens,
        Err(err) => err.to_compile_error(),
    }
}

/// Expands parsed input in `env`.
pub fn try_expand(input: &QueryInput, mode: Mode, env: &Env) -> syn::Result<TokenStream> {
    let sql_span = input.sql.span();
    let dir = migrations_dir(input, env)?;
    let file = load_sql_file(input, env)?;
    let sql = file
        .as_ref()
        .map_or_else(|| input.sql.value(), |f| f.sql.clone());
    let (described, files) = schema::with_schema(&dir, |schema| {
        let described = check::describe(schema, &sql).map_err(|m| match &file {
            Some(f) => f.place_error(&schema.conn, &m),
            None => m,
        });
        (described, schema.files.clone())
    })
    .map_err(|e| {
        syn::Error::new(
            sql_span,
            format!("{e} (migrations directory: {})", dir.display()),
        )
    })?;
    let described = described.map_err(|message| syn::Error::new(sql_span, message))?;
    let binding = bind(&described.params, input)?;
    let files: Vec<PathBuf> = files
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .chain(file.map(|f| f.path))
        .collect();
    expand::expand(&expand::Plan {
        mode,
        input,
        described: &described,
        binding,
        files: &files,
    })
}

/// The SQL file of a `query_file*!` macro, read; `None` for an inline statement. An error
/// points at the path literal and names the full path.
pub fn load_sql_file(input: &QueryInput, env: &Env) -> syn::Result<Option<sql_file::SqlFile>> {
    match input.source {
        Source::Inline => Ok(None),
        Source::File => sql_file::load(&env.manifest_dir, &input.sql.value())
            .map(Some)
            .map_err(|e| syn::Error::new(input.sql.span(), e.to_string())),
    }
}

/// The migrations directory: `migrations = "dir"`, else `HIQLITE_MIGRATIONS_DIR`, else the
/// crate's `migrations/` or the nearest ancestor's.
pub fn migrations_dir(input: &QueryInput, env: &Env) -> syn::Result<PathBuf> {
    let explicit = |dir: &str, origin: &str, span| {
        let path = env.manifest_dir.join(dir);
        if path.is_dir() {
            Ok(path)
        } else {
            Err(syn::Error::new(
                span,
                format!(
                    "the migrations directory {} ({origin}) does not exist",
                    path.display()
                ),
            ))
        }
    };
    if let Some(lit) = &input.migrations {
        return explicit(&lit.value(), "from `migrations = ...`", lit.span());
    }
    if let Some(dir) = &env.migrations_dir {
        return explicit(dir, &format!("from {MIGRATIONS_ENV}"), input.sql.span());
    }
    crate::migrations::find_dir(Path::new(&env.manifest_dir)).map_err(|e| {
        syn::Error::new(
            input.sql.span(),
            format!(
                "{e}; query! checks SQL against the migrations: create `migrations/` next to \
                 Cargo.toml, pass `migrations = \"path\"`, or set {MIGRATIONS_ENV}"
            ),
        )
    })
}

/// For each parameter slot, the index of the argument bound to it. Positional slots take the
/// positional arguments in order; `:name` slots take the argument `name = value`.
pub fn bind(slots: &[ParamSlot], input: &QueryInput) -> syn::Result<Vec<usize>> {
    let positional: Vec<usize> = input
        .args
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a, Arg::Positional(_)))
        .map(|(i, _)| i)
        .collect();
    let wanted = slots
        .iter()
        .filter(|s| **s == ParamSlot::Positional)
        .count();
    let mut errors: Vec<syn::Error> = Vec::new();
    if wanted != positional.len() {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        errors.push(syn::Error::new(
            input::args_span(input),
            format!(
                "the SQL has {} (`?` or `?NNN`) but {} given",
                plural(wanted, "positional parameter"),
                if positional.len() == 1 {
                    "1 positional argument is".to_string()
                } else {
                    format!("{} positional arguments are", positional.len())
                },
            ),
        ));
    }
    let mut named: Vec<(&syn::Ident, usize)> = Vec::new();
    for (i, arg) in input.args.iter().enumerate() {
        if let Arg::Named(name, _) = arg {
            if named.iter().any(|(n, _)| *n == name) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("argument `{name}` is given twice"),
                ));
            }
            named.push((name, i));
        }
    }
    let mut binding = Vec::with_capacity(slots.len());
    let mut next_positional = positional.iter();
    for slot in slots {
        match slot.arg_name() {
            None => binding.push(next_positional.next().copied().unwrap_or(usize::MAX)),
            Some(name) => match named.iter().find(|(n, _)| *n == name) {
                Some((_, i)) => binding.push(*i),
                None => {
                    let written = match slot {
                        ParamSlot::Named(w) => w.as_str(),
                        ParamSlot::Positional => name,
                    };
                    errors.push(syn::Error::new(
                        input.sql.span(),
                        format!(
                            "the SQL uses the named parameter `{written}` but no argument is \
                             named `{name}`: add `{name} = <value>` after the SQL"
                        ),
                    ));
                    binding.push(usize::MAX);
                }
            },
        }
    }
    for (name, _) in &named {
        if !slots
            .iter()
            .any(|s| s.arg_name() == Some(&name.to_string()))
        {
            let hint = if *name == "migrations" {
                "; `migrations = \"dir\"` goes before the SQL"
            } else {
                ""
            };
            errors.push(syn::Error::new(
                name.span(),
                format!("the SQL has no parameter `:{name}` (or `@{name}`, `${name}`){hint}"),
            ));
        }
    }
    crate::row::combine(errors)?;
    Ok(binding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn env_with(sql: &str) -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        std::fs::write(dir.path().join("migrations/0001_init.sql"), sql).unwrap();
        let env = Env {
            manifest_dir: dir.path().join("crate"),
            migrations_dir: None,
        };
        std::fs::create_dir(&env.manifest_dir).unwrap();
        (dir, env)
    }

    fn expand_str(tokens: TokenStream, mode: Mode, env: &Env) -> Result<String, String> {
        let input = QueryInput::parse(tokens, mode).map_err(|e| e.to_string())?;
        try_expand(&input, mode, env)
            .map(|t| t.to_string())
            .map_err(|e| {
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    const SCHEMA: &str =
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);";

    #[test]
    fn reads_and_writes_get_their_access_in_the_type() {
        let (_dir, env) = env_with(SCHEMA);
        let read = expand_str(
            quote!("SELECT id, name AS \"name?\" FROM users WHERE id > ?", 1),
            Mode::Query,
            &env,
        )
        .unwrap();
        assert!(
            read.contains("Query :: < :: hiqlite :: typed :: Read , Record >"),
            "{read}"
        );
        assert!(read.contains("pub id : i64"), "{read}");
        assert!(
            read.contains("pub name : :: core :: option :: Option < :: std :: string :: String >"),
            "{read}"
        );
        // The override is gone from the SQL sent at runtime.
        assert!(
            read.contains(r#""SELECT id, name AS \"name\" FROM users WHERE id > ?""#),
            "{read}"
        );
        assert!(read.contains("include_bytes !"), "{read}");
        assert!(read.contains("0001_init.sql"), "{read}");

        let write = expand_str(
            quote!("DELETE FROM users WHERE id = :id", id = 1),
            Mode::Query,
            &env,
        )
        .unwrap();
        assert!(
            write.contains("Query :: < :: hiqlite :: typed :: Write , () >"),
            "{write}"
        );
    }

    #[test]
    fn query_as_emits_the_shape_check() {
        let (_dir, env) = env_with(SCHEMA);
        let out = expand_str(
            quote!(User, "SELECT id, email FROM users"),
            Mode::QueryAs,
            &env,
        )
        .unwrap();
        assert!(out.contains("check_query_as"), "{out}");
        assert!(out.contains("Probe :: < User > :: SHAPE"), "{out}");
        assert!(
            out.contains(
                "name : \"email\" , kind : :: hiqlite :: typed :: __private :: kind :: TEXT_NULL"
            ),
            "{out}"
        );
        assert!(out.contains("kind :: INTEGER }"), "{out}");
    }

    #[test]
    fn arguments_bind_in_parameter_order() {
        let (_dir, env) = env_with(SCHEMA);
        // `:b` is parameter 1, `?2`... SQLite numbers `:a` after it.
        let out = expand_str(
            quote!(
                "SELECT id FROM users WHERE name = :b OR email = :a OR name = :b",
                a = x,
                b = y
            ),
            Mode::Query,
            &env,
        )
        .unwrap();
        let b = out.find("vec ! [").unwrap();
        let tail = &out[b..];
        assert!(
            tail.find("__hiqlite_arg1").unwrap() < tail.find("__hiqlite_arg0").unwrap(),
            "{tail}"
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let (_dir, env) = env_with(SCHEMA);
        let err = expand_str(
            quote!("SELECT id FROM users WHERE id = ?"),
            Mode::Query,
            &env,
        )
        .unwrap_err();
        assert!(err.contains("1 positional parameter"), "{err}");
        let err = expand_str(
            quote!("SELECT id FROM users WHERE id = :id"),
            Mode::Query,
            &env,
        )
        .unwrap_err();
        assert!(err.contains("add `id = <value>`"), "{err}");
        let err = expand_str(quote!("SELECT nope FROM users"), Mode::Query, &env).unwrap_err();
        assert!(err.contains("no such column: nope"), "{err}");

        let (_dir, bad) = env_with("CREATE TABL x;");
        let err = expand_str(quote!("SELECT 1 AS one"), Mode::Query, &bad).unwrap_err();
        assert!(err.contains("0001_init.sql does not apply"), "{err}");
    }

    fn expand_file_str(tokens: TokenStream, mode: Mode, env: &Env) -> Result<String, String> {
        let input =
            QueryInput::parse_from(tokens, mode, Source::File).map_err(|e| e.to_string())?;
        try_expand(&input, mode, env)
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn scalar_rows_are_the_column_type() {
        let (_dir, env) = env_with(SCHEMA);
        let out = expand_str(quote!("SELECT count(*) FROM users"), Mode::Scalar, &env).unwrap();
        assert!(
            out.contains(
                "Query :: < :: hiqlite :: typed :: Read , :: hiqlite :: typed :: Scalar < i64 > >"
            ),
            "{out}"
        );
        let out = expand_str(
            quote!("SELECT email FROM users WHERE id = ?", 1),
            Mode::Scalar,
            &env,
        )
        .unwrap();
        assert!(
            out.contains("Scalar < :: core :: option :: Option < :: std :: string :: String > >"),
            "{out}"
        );
        // Overrides work as in query!, and leave the SQL sent at runtime.
        let out = expand_str(
            quote!(r#"SELECT max(id) AS "top!: u32" FROM users"#),
            Mode::Scalar,
            &env,
        )
        .unwrap();
        assert!(out.contains("Scalar < u32 >"), "{out}");
        assert!(
            out.contains(r#""SELECT max(id) AS \"top\" FROM users""#),
            "{out}"
        );
        // A write with RETURNING goes through Raft.
        let out = expand_str(
            quote!(
                "INSERT INTO users (name) VALUES (:name) RETURNING id",
                name = "x"
            ),
            Mode::Scalar,
            &env,
        )
        .unwrap();
        assert!(
            out.contains(
                "Query :: < :: hiqlite :: typed :: Write , :: hiqlite :: typed :: Scalar < i64 > >"
            ),
            "{out}"
        );
    }

    #[test]
    fn scalar_needs_exactly_one_column() {
        let (_dir, env) = env_with(SCHEMA);
        let err = expand_str(quote!("SELECT id, name FROM users"), Mode::Scalar, &env).unwrap_err();
        assert!(err.contains("returns 2 (\"id\", \"name\")"), "{err}");
        let err = expand_str(quote!("DELETE FROM users"), Mode::Scalar, &env).unwrap_err();
        assert!(err.contains("returns none"), "{err}");
    }

    #[test]
    fn file_sql_is_checked_tracked_and_sent() {
        let (dir, env) = env_with(SCHEMA);
        let queries = env.manifest_dir.join("queries");
        std::fs::create_dir(&queries).unwrap();
        std::fs::write(
            queries.join("by_name.sql"),
            "-- Users by name.\nSELECT id, email\nFROM users\nWHERE name = :name\n",
        )
        .unwrap();
        let out = expand_file_str(
            quote!("queries/by_name.sql", name = "bob"),
            Mode::Query,
            &env,
        )
        .unwrap();
        assert!(out.contains("pub id : i64"), "{out}");
        assert!(
            out.contains("WHERE name = :name"),
            "the file's SQL is sent: {out}"
        );
        let tracked = std::fs::canonicalize(queries.join("by_name.sql")).unwrap();
        assert!(
            out.contains(&format!(
                "include_bytes ! ({:?})",
                tracked.display().to_string()
            )),
            "the file is tracked: {out}"
        );

        let out = expand_file_str(
            quote!(User, "queries/by_name.sql", name = "bob"),
            Mode::QueryAs,
            &env,
        )
        .unwrap();
        assert!(out.contains("Probe :: < User > :: SHAPE"), "{out}");

        std::fs::write(queries.join("count.sql"), "SELECT count(*) FROM users").unwrap();
        let out = expand_file_str(quote!("queries/count.sql"), Mode::Scalar, &env).unwrap();
        assert!(out.contains("Scalar < i64 >"), "{out}");
        drop(dir);
    }

    #[test]
    fn file_errors_point_at_the_path_and_name_the_file() {
        let (_dir, env) = env_with(SCHEMA);
        let queries = env.manifest_dir.join("queries");
        std::fs::create_dir(&queries).unwrap();

        let err = expand_file_str(quote!("queries/missing.sql"), Mode::Query, &env).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        assert!(
            err.contains(
                &env.manifest_dir
                    .join("queries/missing.sql")
                    .display()
                    .to_string()
            ),
            "the full path: {err}"
        );
        let err = expand_file_str(quote!("queries"), Mode::Query, &env).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");

        std::fs::write(queries.join("bad.sql"), "SELECT id,\n  nope\nFROM users").unwrap();
        let err = expand_file_str(quote!("queries/bad.sql"), Mode::Query, &env).unwrap_err();
        assert!(err.contains("no such column: nope"), "{err}");
        assert!(err.contains("in queries/bad.sql:2:3"), "{err}");

        std::fs::write(queries.join("two.sql"), "SELECT id, name FROM users").unwrap();
        let err = expand_file_str(quote!("queries/two.sql"), Mode::Scalar, &env).unwrap_err();
        assert!(
            err.starts_with("query_file_scalar! needs a statement"),
            "{err}"
        );

        std::fs::write(
            queries.join("param.sql"),
            "SELECT id FROM users WHERE id = ?",
        )
        .unwrap();
        let err = expand_file_str(quote!("queries/param.sql"), Mode::Query, &env).unwrap_err();
        assert!(err.contains("1 positional parameter"), "{err}");

        std::fs::write(queries.join("empty.sql"), "-- nothing\n").unwrap();
        let err = expand_file_str(quote!("queries/empty.sql"), Mode::Query, &env).unwrap_err();
        assert!(
            err.contains("empty") && err.contains("in queries/empty.sql"),
            "{err}"
        );
    }

    #[test]
    fn migrations_dir_precedence() {
        let (dir, mut env) = env_with(SCHEMA);
        let input = QueryInput::parse(quote!("SELECT 1"), Mode::Query).unwrap();
        assert_eq!(
            migrations_dir(&input, &env).unwrap(),
            dir.path().join("migrations")
        );
        std::fs::create_dir(dir.path().join("other")).unwrap();
        env.migrations_dir = Some("../other".into());
        assert!(migrations_dir(&input, &env)
            .unwrap()
            .ends_with("crate/../other"));
        let input = QueryInput::parse(
            quote!(migrations = "../migrations", "SELECT 1"),
            Mode::Query,
        )
        .unwrap();
        assert!(migrations_dir(&input, &env)
            .unwrap()
            .ends_with("crate/../migrations"));
        let input =
            QueryInput::parse(quote!(migrations = "missing", "SELECT 1"), Mode::Query).unwrap();
        let err = migrations_dir(&input, &env).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
