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

#[cfg(test)]
mod tests {
    use super::*;

    fn derive_str(input: proc_macro2::TokenStream) -> Result<String, String> {
        let input: syn::DeriveInput = syn::parse2(input).unwrap();
        try_derive(&input).map(|t| t.to_string()).map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn expands_every_attribute() {
        let out = derive_str(quote::quote! {
            struct User<T> {
                id: i64,
                #[row(rename = "mail")] email: Option<String>,
                #[row(skip)] cached: bool,
                #[row(flatten)] inner: Inner,
                #[row(from_str)] ip: Option<std::net::IpAddr>,
                #[row(try_from = "i64")] small: u8,
                #[row(with = "conv::f")] v: usize,
                r#type: T,
            }
        })
        .unwrap();
        for needle in [
            "impl < T > :: hiqlite :: FromRow for User < T > where T : :: hiqlite :: typed :: __private :: Decode",
            "read :: < i64 >",
            "column : \"mail\"",
            "read_from_str_opt",
            "read_try_from :: < i64 , _ >",
            "read_with (row ,",
            "conv :: f",
            "< Inner as :: hiqlite :: FromRow > :: from_row (row) ?",
            ":: core :: default :: Default :: default ()",
            "field : \"type\"",
            "ty : \"Option<String>\"",
            "Probe :: < Inner > :: SHAPE",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in\n{out}");
        }
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let err = derive_str(quote::quote! {
            struct S {
                #[row(nope)] a: i64,
                #[row(skip, flatten)] b: i64,
                #[row(from_str, with = "f")] c: i64,
            }
        })
        .unwrap_err();
        assert!(err.contains("unknown row attribute `nope`"), "{err}");
        assert!(
            err.contains("`flatten` cannot be combined with `skip`"),
            "{err}"
        );
        assert!(err.contains("`with` conflicts with `from_str`"), "{err}");
    }

    #[test]
    fn refuses_what_has_no_named_fields() {
        for input in [
            quote::quote!(
                enum E {
                    A,
                }
            ),
            quote::quote!(
                struct T(i64);
            ),
            quote::quote!(
                struct U;
            ),
        ] {
            let err = derive_str(input).unwrap_err();
            assert!(err.contains("named fields"), "{err}");
        }
    }

    #[test]
    fn type_strings_read_like_source() {
        let t = |s: &str| expand::type_string(&syn::parse_str(s).unwrap());
        assert_eq!(t("Option < Vec < u8 > >"), "Option<Vec<u8>>");
        assert_eq!(t("std :: string :: String"), "std::string::String");
        assert_eq!(t("(i64 , String)"), "(i64, String)");
        assert_eq!(t("[u8 ; 4]"), "[u8; 4]");
    }
}
