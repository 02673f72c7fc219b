//! `#[derive(HiqliteRow)]`: parse → validate → expand, as separate steps.
//!
//! - [`ast`] turns the `DeriveInput` into a typed model (refusing enums, unions, tuple and unit
//!   structs),
//! - [`attr`] reads the `#[row(...)]` attributes of each field,
//! - [`validate`] refuses attribute combinations that make no sense,
//! - [`expand`] writes the `FromRow` impl and the shape `query_as!` checks against.
//!
//! Every error carries the span of the offending field or attribute. On error the derive still
//! emits a stub impl so the user sees one message, not a cascade of "FromRow is not implemented".

pub mod ast;
pub mod attr;
pub mod expand;
pub mod validate;

use proc_macro2::TokenStream;

/// The whole derive: returns the impls, or `compile_error!`s plus a stub impl.
pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    match try_derive(input) {
        Ok(tokens) => tokens,
        Err(err) => {
            let mut tokens = err.to_compile_error();
            tokens.extend(expand::stub(input));
            tokens
        }
    }
}

/// The derive without the error fallback, for tests.
pub fn try_derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let row = ast::RowStruct::from_input(input)?;
    validate::validate(&row)?;
    Ok(expand::expand(&row))
}

/// Collects several errors into one `syn::Error` (each keeps its own span), so a user with three
/// wrong attributes sees all three at once.
pub(crate) fn combine(errors: Vec<syn::Error>) -> syn::Result<()> {
    let mut iter = errors.into_iter();
    match iter.next() {
        None => Ok(()),
        Some(mut first) => {
            for e in iter {
                first.combine(e);
            }
            Err(first)
        }
    }
}
