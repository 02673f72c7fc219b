//! Writes the code of `query!` / `query_as!`: the record type (for `query!`), the compile-time
//! check of the row type (for `query_as!`), the arguments in parameter order, and a
//! `hiqlite::typed::Query` whose access marker (`Read` or `Write`) is decided by SQLite's
//! `sqlite3_stmt_readonly`. Generated code refers to `::hiqlite::...` paths only.

use std::path::PathBuf;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::check::{Described, OutputColumn};
use super::input::{Mode, QueryInput};

/// Everything the expansion needs besides the parsed input.
pub struct Plan<'a> {
    pub mode: Mode,
    pub input: &'a QueryInput,
    pub described: &'a Described,
    /// For each SQLite parameter index (in order), the index of the macro argument bound to it.
    pub binding: Vec<usize>,
    /// Migration files whose content the expansion depends on (absolute paths).
    pub files: &'a [PathBuf],
}

/// The expansion of a checked query.
pub fn expand(plan: &Plan<'_>) -> syn::Result<TokenStream> {
    let sql_span = plan.input.sql.span();
    let access = if plan.described.readonly {
        quote!(::hiqlite::typed::Read)
    } else {
        quote!(::hiqlite::typed::Write)
    };
    let (row_items, row_type) = match plan.mode {
        Mode::Query => record(&plan.described.columns, sql_span)?,
        Mode::QueryAs => {
            let ty = plan
                .input
                .record
                .as_ref()
                .ok_or_else(|| syn::Error::new(sql_span, "query_as! needs a row type"))?;
            if plan.described.columns.is_empty() {
                return Err(syn::Error::new(
                    sql_span,
                    "query_as! needs a statement that returns rows (a SELECT or `... RETURNING`); \
                     use query! for a write without RETURNING",
                ));
            }
            (
                check_row_type(ty, &plan.described.columns, sql_span),
                quote!(#ty),
            )
        }
        Mode::Scalar => super::scalar::row_type(
            &plan.described.columns,
            super::input::macro_name(plan.mode, plan.input.source),
            sql_span,
        )?,
    };
    let tracking = tracking(plan.files);
    let args = arguments(plan);
    let sql = &plan.described.sql;
    let returns_rows = !plan.described.columns.is_empty();
    let params = params_ident();
    // The arguments are evaluated outside the block that defines the record, so a user type
    // called `Record` in an argument still means the user's type.
    Ok(quote! {
        {
            #args
            {
                #tracking
                #row_items
                ::hiqlite::typed::Query::<#access, #row_type>::__new(#sql, #params, #returns_rows)
            }
        }
    })
}

/// Makes the crate recompile when a migration file or `HIQLITE_MIGRATIONS_DIR` changes: rustc
/// records files read by `include_bytes!` and variables read by `option_env!` as dependencies.
fn tracking(files: &[PathBuf]) -> TokenStream {
    let includes = files.iter().map(|f| {
        let path = f.to_string_lossy().into_owned();
        quote! { const _: &[u8] = ::core::include_bytes!(#path); }
    });
    quote! {
        #(#includes)*
        const _: ::core::option::Option<&str> = ::core::option_env!("HIQLITE_MIGRATIONS_DIR");
    }
}

/// `let __hiqlite_params = vec![..]`: every argument converted to a `hiqlite::Value` once, in
/// the order written, then placed in parameter order. Arguments compared with or written to a
/// typed column are checked against it first (see [`argument_checks`]).
fn arguments(plan: &Plan<'_>) -> TokenStream {
    let lets = plan.input.args.iter().enumerate().map(|(i, arg)| {
        let (expr, unchecked) = strip_unchecked(arg.expr());
        let var = arg_ident(i);
        let raw = syn::Ident::new("__hiqlite_raw", Span::mixed_site());
        let checks = if unchecked {
            TokenStream::new()
        } else {
            argument_checks(plan, i, expr, &raw)
        };
        let value = quote_spanned! {expr.span()=> ::hiqlite::Value::from(#raw) };
        // A `match` keeps the temporaries of the expression alive while it is converted.
        quote! {
            let #var = match #expr {
                #raw => {
                    #checks
                    #value
                }
            };
        }
    });
    // The last use of an argument moves it; earlier uses (one name bound twice) clone.
    let last_use: Vec<Option<usize>> = (0..plan.input.args.len())
        .map(|a| plan.binding.iter().rposition(|b| *b == a))
        .collect();
    let values = plan.binding.iter().enumerate().map(|(slot, &a)| {
        let var = arg_ident(a);
        if last_use[a] == Some(slot) {
            quote!(#var)
        } else {
            quote!(::core::clone::Clone::clone(&#var))
        }
    });
    let params = params_ident();
    quote! {
        #(#lets)*
        let #params: ::std::vec::Vec<::hiqlite::Value> = ::std::vec![#(#values),*];
    }
}

/// `arg as _`: bind the argument without checking its type (as sqlx's escape).
fn strip_unchecked(expr: &syn::Expr) -> (&syn::Expr, bool) {
    match expr {
        syn::Expr::Cast(cast) if matches!(*cast.ty, syn::Type::Infer(_)) => (&cast.expr, true),
        _ => (expr, false),
    }
}

/// For argument `arg` (0-based), one check per column it meets: a local trait implemented for
/// the storage classes the column accepts, whose `on_unimplemented` message names the argument,
/// the parameter and the column, and a call that requires the argument's storage class
/// (`hiqlite::types::ArgType`) to implement it. Arguments of types without `ArgType` pass.
fn argument_checks(plan: &Plan<'_>, arg: usize, expr: &syn::Expr, raw: &syn::Ident) -> TokenStream {
    let p = quote!(::hiqlite::typed::__private);
    let macro_name = super::input::macro_name(plan.mode, plan.input.source);
    let mut checks = TokenStream::new();
    for (slot, bound) in plan.binding.iter().enumerate() {
        if *bound != arg {
            continue;
        }
        let param = match &plan.described.params[slot] {
            super::check::ParamSlot::Named(name) => name.clone(),
            super::check::ParamSlot::Positional => format!("?{}", slot + 1),
        };
        let Some(expectations) = plan.described.param_types.get(slot) else {
            continue;
        };
        for e in expectations {
            // Named after what it checks: rustc shows the name in its help lines.
            let fits = format_ident!(
                "Argument{}Fits{}",
                arg + 1,
                camel_case(&e.target),
                span = expr.span()
            );
            let accepted: Vec<&str> = e.accepts.iter().map(|s| s.marker()).collect();
            let message = format!(
                "{macro_name}: argument {} (parameter `{param}`) does not fit {}: {} takes {}, but the \
                 argument is bound as {{Self}}",
                arg + 1,
                e.target,
                e.rule,
                accepted.join(" or "),
            );
            let label = format!(
                "bound as {{Self}}, {} needs {}",
                e.target,
                accepted.join(" or ")
            );
            let note = "convert the argument (e.g. `UnixTime(t)` for a date in an INTEGER column, \
                        `uuid.hyphenated()` for a UUID in a TEXT column), or bind it unchecked \
                        with `arg as _` (docs/typed-api.md, \"Argument types\")";
            let markers = e.accepts.iter().map(|s| {
                let m = syn::Ident::new(s.marker(), Span::call_site());
                quote!(impl #fits for ::hiqlite::types::storage::#m {})
            });
            let fits = &fits;
            // A literal's storage class is plain from its token (and `5` or `1.5` have no type
            // yet when the probe's method is chosen, so they would go unchecked).
            let stored = match literal_storage(expr) {
                Some(m) => {
                    let m = syn::Ident::new(m, expr.span());
                    quote_spanned!(expr.span()=>
                        ::hiqlite::typed::__private::Stored::<::hiqlite::types::storage::#m>::new()
                    )
                }
                None => quote_spanned!(expr.span()=>
                    (&&::hiqlite::typed::__private::ArgProbe::of(&#raw)).storage()
                ),
            };
            checks.extend(quote_spanned! {expr.span()=>
                {
                    #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
                    trait #fits {}
                    #(#markers)*
                    #[diagnostic::do_not_recommend]
                    impl #fits for ::hiqlite::types::storage::DYNAMIC {}
                    fn fits<S: #fits>(_: #p::Stored<S>) {}
                    #[allow(unused_imports)]
                    use #p::{ArgStorage as _, ArgStorageUnknown as _};
                    fits(#stored);
                }
            });
        }
    }
    checks
}

/// The storage class of a literal argument (`5`, `-1.5`, `"x"`, `b"x"`, `true`).
fn literal_storage(expr: &syn::Expr) -> Option<&'static str> {
    match expr {
        syn::Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Int(_) | syn::Lit::Bool(_) => Some("INTEGER"),
            syn::Lit::Float(_) => Some("REAL"),
            syn::Lit::Str(_) => Some("TEXT"),
            syn::Lit::ByteStr(_) => Some("BLOB"),
            _ => None,
        },
        syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => literal_storage(&u.expr),
        syn::Expr::Group(g) => literal_storage(&g.expr),
        syn::Expr::Paren(p) => literal_storage(&p.expr),
        _ => None,
    }
}

/// `column \`users.user_id\`` → `UsersUserId`, for the names of generated check traits.
fn camel_case(text: &str) -> String {
    let inner = text.split('`').nth(1).unwrap_or(text);
    inner
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

/// Locals of the expansion are hygienic (mixed-site): user expressions cannot see or shadow them.
fn arg_ident(i: usize) -> syn::Ident {
    format_ident!("__hiqlite_arg{}", i, span = Span::mixed_site())
}

fn params_ident() -> syn::Ident {
    syn::Ident::new("__hiqlite_params", Span::mixed_site())
}

/// The anonymous record of `query!`: one public field per result column, typed from the
/// schema, read by position. `()` when the statement returns no rows.
fn record(columns: &[OutputColumn], sql_span: Span) -> syn::Result<(TokenStream, TokenStream)> {
    if columns.is_empty() {
        return Ok((TokenStream::new(), quote!(())));
    }
    let mut fields = Vec::new();
    let mut reads = Vec::new();
    for (idx, c) in columns.iter().enumerate() {
        let ident = field_ident(&c.name, sql_span)?;
        let ty = &c.rust_type;
        let name = &c.name;
        fields.push(quote! { pub #ident: #ty });
        reads.push(quote! {
            #ident: ::hiqlite::typed::__private::read_column::<#ty>(row, #idx, #name)?
        });
    }
    // Custom override types may not implement these; the built-in ones all do.
    let derives = if columns.iter().all(|c| c.check.is_some()) {
        quote!(#[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)])
    } else {
        TokenStream::new()
    };
    let items = quote! {
        #derives
        #[allow(non_snake_case)]
        struct Record { #(#fields,)* }

        impl ::hiqlite::FromRow for Record {
            fn from_row(
                row: &::hiqlite::Row<'_>,
            ) -> ::core::result::Result<Self, ::hiqlite::Error> {
                ::core::result::Result::Ok(Record { #(#reads,)* })
            }
        }
    };
    Ok((items, quote!(Record)))
}

/// A record field named after the column; keywords become raw identifiers.
fn field_ident(name: &str, span: Span) -> syn::Result<syn::Ident> {
    if syn::parse_str::<syn::Ident>(name).is_ok() {
        return Ok(syn::Ident::new(name, span));
    }
    let valid_raw = !name.is_empty()
        && !matches!(name, "self" | "Self" | "super" | "crate" | "_")
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if valid_raw {
        return Ok(syn::Ident::new_raw(name, span));
    }
    Err(syn::Error::new(
        span,
        format!(
            "result column \"{name}\" cannot be a field name: give it an alias, e.g. \
             `{name} AS value`"
        ),
    ))
}

/// `query_as!`: a constant evaluated at compile time that compares the result columns with the
/// fields `#[derive(HiqliteRow)]` recorded for `ty` (names and what each field can hold). Types
/// with a hand-written `FromRow` have no recorded shape and are not checked.
fn check_row_type(ty: &syn::Type, columns: &[OutputColumn], sql_span: Span) -> TokenStream {
    let p = quote!(::hiqlite::typed::__private);
    let cols = columns.iter().map(|c| {
        let name = &c.name;
        let kind = match c.check {
            Some((kind, nullable)) => kind.constant(nullable),
            None => quote!(#p::kind::UNKNOWN),
        };
        quote!(#p::ResultColumn { name: #name, kind: #kind })
    });
    quote_spanned! {sql_span=>
        const _: () = {
            #[allow(unused_imports)]
            use ::hiqlite::typed::__private::ProbeFallback as _;
            if let ::core::option::Option::Some(message) = ::hiqlite::typed::__private::check_query_as(
                ::hiqlite::typed::__private::Probe::<#ty>::SHAPE,
                &[#(#cols),*],
            )
            .message()
            {
                ::core::panic!("{}", message)
            }
        };
    }
}
