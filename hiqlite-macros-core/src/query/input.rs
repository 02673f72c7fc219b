//! Parses the input of `query!`, `query_as!`, `query_scalar!` and their `query_file*!` forms:
//!
//! ```text
//! query!(            [migrations = "dir",] "SQL" [, arg]* [,])
//! query_as!(         [migrations = "dir",] Type, "SQL" [, arg]* [,])
//! query_scalar!(     [migrations = "dir",] "SQL" [, arg]* [,])
//! query_file!(       [migrations = "dir",] "path.sql" [, arg]* [,])
//! query_file_as!(    [migrations = "dir",] Type, "path.sql" [, arg]* [,])
//! query_file_scalar!([migrations = "dir",] "path.sql" [, arg]* [,])
//! arg := expr            (binds the next `?` / `?NNN`)
//!      | name = expr     (binds `:name`, `@name` or `$name`)
//! ```

use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token, Type};

/// Which macro is being expanded: what a row becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `query!`: an anonymous record with one field per result column.
    Query,
    /// `query_as!(Type, ...)`: rows read into `Type` through its `FromRow`.
    QueryAs,
    /// `query_scalar!`: the statement returns exactly one column; a row is that column's value.
    Scalar,
}

/// Where the SQL of the macro comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The string literal is the SQL (`query!`, `query_as!`, `query_scalar!`).
    Inline,
    /// The string literal is the path of a file holding the SQL, relative to the crate's
    /// `Cargo.toml` directory (`query_file!`, `query_file_as!`, `query_file_scalar!`).
    File,
}

/// The macro's name as the user wrote it, for messages (`query_file_as!`).
pub fn macro_name(mode: Mode, source: Source) -> &'static str {
    match (mode, source) {
        (Mode::Query, Source::Inline) => "query!",
        (Mode::QueryAs, Source::Inline) => "query_as!",
        (Mode::Scalar, Source::Inline) => "query_scalar!",
        (Mode::Query, Source::File) => "query_file!",
        (Mode::QueryAs, Source::File) => "query_file_as!",
        (Mode::Scalar, Source::File) => "query_file_scalar!",
    }
}

/// How the macro is called, for messages about malformed input.
fn usage(mode: Mode, source: Source) -> &'static str {
    match (mode, source) {
        (Mode::Query, Source::Inline) => "query!(\"SELECT ...\", args...)",
        (Mode::QueryAs, Source::Inline) => "query_as!(Type, \"SELECT ...\", args...)",
        (Mode::Scalar, Source::Inline) => "query_scalar!(\"SELECT ...\", args...)",
        (Mode::Query, Source::File) => "query_file!(\"path/to/query.sql\", args...)",
        (Mode::QueryAs, Source::File) => "query_file_as!(Type, \"path/to/query.sql\", args...)",
        (Mode::Scalar, Source::File) => "query_file_scalar!(\"path/to/query.sql\", args...)",
    }
}

/// One argument after the SQL.
pub enum Arg {
    Positional(Expr),
    Named(Ident, Expr),
}

impl Arg {
    pub fn expr(&self) -> &Expr {
        match self {
            Arg::Positional(e) | Arg::Named(_, e) => e,
        }
    }
}

/// The parsed macro input.
pub struct QueryInput {
    /// `migrations = "dir"`: where the migrations are, relative to the crate's manifest dir.
    pub migrations: Option<LitStr>,
    /// The row type of `query_as!`.
    pub record: Option<Type>,
    /// The SQL literal; for a [`Source::File`] macro, the literal holding the file's path
    /// (errors about the SQL point at it either way).
    pub sql: LitStr,
    pub args: Vec<Arg>,
    /// Whether `sql` is the SQL or the path of a file holding it.
    pub source: Source,
}

impl QueryInput {
    /// Parses `tokens` for `mode`, with the SQL inline.
    pub fn parse(tokens: proc_macro2::TokenStream, mode: Mode) -> syn::Result<QueryInput> {
        QueryInput::parse_from(tokens, mode, Source::Inline)
    }

    /// Parses `tokens` for `mode`, with the SQL inline or in a file.
    pub fn parse_from(
        tokens: proc_macro2::TokenStream,
        mode: Mode,
        source: Source,
    ) -> syn::Result<QueryInput> {
        let parser = move |input: ParseStream<'_>| parse_input(input, mode, source);
        parser.parse2(tokens)
    }
}

fn parse_input(input: ParseStream<'_>, mode: Mode, source: Source) -> syn::Result<QueryInput> {
    let usage = usage(mode, source);
    if input.is_empty() {
        return Err(input.error(format!("expected {usage}")));
    }
    let mut migrations = None;
    if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
        let fork = input.fork();
        let ident: Ident = fork.parse()?;
        if ident == "migrations" {
            input.parse::<Ident>()?;
            input.parse::<Token![=]>()?;
            let dir: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a path string: `migrations = \"path/to/migrations\"`",
                )
            })?;
            migrations = Some(dir);
            input.parse::<Token![,]>()?;
        }
    }
    let record = match mode {
        Mode::Query | Mode::Scalar => None,
        Mode::QueryAs => {
            if input.peek(LitStr) {
                return Err(input.error(format!(
                    "{} needs the row type first: {usage}",
                    macro_name(mode, source)
                )));
            }
            let ty: Type = input.parse()?;
            input.parse::<Token![,]>()?;
            Some(ty)
        }
    };
    let what = match source {
        Source::Inline => "the SQL",
        Source::File => "the path of the SQL file",
    };
    let sql: LitStr = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected {what} as a string literal: {usage}"),
        )
    })?;
    let mut args = Vec::new();
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let expr: Expr = input.parse()?;
            args.push(Arg::Named(name, expr));
        } else {
            let expr: Expr = input.parse()?;
            args.push(Arg::Positional(expr));
        }
    }
    Ok(QueryInput {
        migrations,
        record,
        sql,
        args,
        source,
    })
}

/// The span of all positional arguments (or of the SQL when there are none), for count errors.
pub fn args_span(input: &QueryInput) -> proc_macro2::Span {
    let mut spans = input
        .args
        .iter()
        .filter(|a| matches!(a, Arg::Positional(_)))
        .map(|a| a.expr().span());
    match spans.next() {
        None => input.sql.span(),
        Some(first) => spans.fold(first, |acc, s| acc.join(s).unwrap_or(acc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn parses_every_shape() {
        let q = QueryInput::parse(quote!("SELECT ?", 1, x + 2, name = y,), Mode::Query).unwrap();
        assert_eq!(q.sql.value(), "SELECT ?");
        assert!(q.record.is_none() && q.migrations.is_none());
        assert_eq!(q.args.len(), 3);
        assert!(matches!(&q.args[2], Arg::Named(n, _) if n == "name"));

        let q = QueryInput::parse(
            quote!(migrations = "db/migrations", crate::User, "SELECT 1"),
            Mode::QueryAs,
        )
        .unwrap();
        assert_eq!(q.migrations.unwrap().value(), "db/migrations");
        assert!(q.record.is_some());
        assert!(q.args.is_empty());

        // `a == b` is a positional comparison, not a named argument.
        let q = QueryInput::parse(quote!("SELECT ?", a == b), Mode::Query).unwrap();
        assert!(matches!(&q.args[0], Arg::Positional(_)));
    }

    #[test]
    fn refuses_malformed_input() {
        let err = |t, m| QueryInput::parse(t, m).err().unwrap().to_string();
        assert!(err(quote!(), Mode::Query).contains("expected query!"));
        assert!(err(quote!(sql), Mode::Query).contains("string literal"));
        assert!(err(quote!("SELECT 1"), Mode::QueryAs).contains("row type first"));
        assert!(err(quote!(migrations = 5, "x"), Mode::Query).contains("path string"));
    }

    #[test]
    fn parses_the_scalar_and_file_forms() {
        let q = QueryInput::parse(
            quote!("SELECT count(*) FROM t WHERE a = :a", a = 1),
            Mode::Scalar,
        )
        .unwrap();
        assert!(q.record.is_none());
        assert_eq!(q.source, Source::Inline);
        assert_eq!(q.args.len(), 1);

        let q = QueryInput::parse_from(
            quote!(migrations = "db", "queries/by_id.sql", 7, name = n),
            Mode::Query,
            Source::File,
        )
        .unwrap();
        assert_eq!(q.source, Source::File);
        assert_eq!(q.sql.value(), "queries/by_id.sql");
        assert_eq!(q.migrations.unwrap().value(), "db");
        assert_eq!(q.args.len(), 2);

        let q = QueryInput::parse_from(quote!(User, "q.sql"), Mode::QueryAs, Source::File).unwrap();
        assert!(q.record.is_some());
        let q = QueryInput::parse_from(quote!("q.sql"), Mode::Scalar, Source::File).unwrap();
        assert_eq!(
            (q.sql.value(), q.source),
            ("q.sql".to_string(), Source::File)
        );
    }

    #[test]
    fn malformed_file_forms_name_their_macro() {
        let err = |t, m| {
            QueryInput::parse_from(t, m, Source::File)
                .err()
                .unwrap()
                .to_string()
        };
        let e = err(quote!("q.sql"), Mode::QueryAs);
        assert!(e.contains("query_file_as! needs the row type first"), "{e}");
        let e = err(quote!(path), Mode::Query);
        assert!(
            e.contains("expected the path of the SQL file as a string literal: query_file!("),
            "{e}"
        );
        let e = err(quote!(), Mode::Scalar);
        assert!(e.contains("expected query_file_scalar!("), "{e}");
        assert_eq!(macro_name(Mode::Scalar, Source::Inline), "query_scalar!");
    }
}
