//! `query_scalar!` and `query_file_scalar!`: the statement must return exactly one column, and
//! a row is that column's value. The row type is `hiqlite::typed::Scalar<T>` with `T` the
//! column's Rust type (inferred, or from an override in its alias, exactly as a `query!` field).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use super::check::OutputColumn;

/// The row type `Scalar<T>` and an item that makes rustc check, at the SQL literal, that `T`
/// can be read from a column; or, when the statement does not return exactly one column, an
/// error naming how many it returns. `macro_name` is the macro as the user wrote it.
pub fn row_type(
    columns: &[OutputColumn],
    macro_name: &str,
    sql_span: Span,
) -> syn::Result<(TokenStream, TokenStream)> {
    let column = match columns {
        [column] => column,
        [] => {
            return Err(syn::Error::new(
                sql_span,
                format!(
                    "{macro_name} needs a statement that returns exactly one column; this one \
                     returns none (a write without RETURNING): use query! for it"
                ),
            ))
        }
        several => {
            let names: Vec<String> = several.iter().map(|c| format!("\"{}\"", c.name)).collect();
            return Err(syn::Error::new(
                sql_span,
                format!(
                    "{macro_name} needs a statement that returns exactly one column; this one \
                     returns {} ({}): select one column, or use query! for a record",
                    several.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    let ty = &column.rust_type;
    let row = quote!(::hiqlite::typed::Scalar<#ty>);
    let check = quote_spanned! {sql_span=>
        const _: () = {
            let _ = <#row as ::hiqlite::typed::QueryRow>::read;
        };
    };
    Ok((check, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, ty: TokenStream) -> OutputColumn {
        OutputColumn {
            name: name.into(),
            rust_type: ty,
            check: None,
        }
    }

    #[test]
    fn one_column_is_its_type() {
        let (check, row) = row_type(
            &[column("n", quote!(::core::option::Option<i64>))],
            "query_scalar!",
            Span::call_site(),
        )
        .unwrap();
        assert_eq!(
            row.to_string(),
            ":: hiqlite :: typed :: Scalar < :: core :: option :: Option < i64 > >"
        );
        assert!(check.to_string().contains("QueryRow > :: read"), "{check}");
    }

    #[test]
    fn other_counts_are_refused_with_the_count() {
        let err = row_type(&[], "query_scalar!", Span::call_site())
            .unwrap_err()
            .to_string();
        assert!(err.contains("returns none"), "{err}");
        let err = row_type(
            &[column("id", quote!(i64)), column("name", quote!(String))],
            "query_file_scalar!",
            Span::call_site(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "query_file_scalar! needs a statement that returns exactly one column; this one \
                 returns 2 (\"id\", \"name\")"
            ),
            "{err}"
        );
    }
}
