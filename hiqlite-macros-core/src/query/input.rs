//! Parses the input of `query!` and `query_as!`:
//!
//! ```text
//! query!(   [migrations = "dir",] "SQL" [, arg]* [,])
//! query_as!([migrations = "dir",] Type, "SQL" [, arg]* [,])
//! arg := expr            (binds the next `?` / `?NNN`)
//!      | name = expr     (binds `:name`, `@name` or `$name`)
//! ```

use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token, Type};

/// Which macro is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `query!`: an anonymous record with one field per result column.
    Query,
    /// `query_as!(Type, ...)`: rows read into `Type` through its `FromRow`.
    QueryAs,
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
    pub sql: LitStr,
    pub args: Vec<Arg>,
}

impl QueryInput {
    /// Parses `tokens` for `mode`.
    pub fn parse(tokens: proc_macro2::TokenStream, mode: Mode) -> syn::Result<QueryInput> {
        let parser = move |input: ParseStream<'_>| parse_input(input, mode);
        parser.parse2(tokens)
    }
}

fn parse_input(input: ParseStream<'_>, mode: Mode) -> syn::Result<QueryInput> {
    let usage = match mode {
        Mode::Query => "query!(\"SELECT ...\", args...)",
        Mode::QueryAs => "query_as!(Type, \"SELECT ...\", args...)",
    };
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
        Mode::Query => None,
        Mode::QueryAs => {
            if input.peek(LitStr) {
                return Err(input.error(format!("query_as! needs the row type first: {usage}")));
            }
            let ty: Type = input.parse()?;
            input.parse::<Token![,]>()?;
            Some(ty)
        }
    };
    let sql: LitStr = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected the SQL as a string literal: {usage}"),
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
}
