//! `#[derive(HiqliteType)]`: a Rust type stored in one column. Enums of unit variants (as TEXT,
//! the variant's name, or as INTEGER, its discriminant) and newtypes (as their inner type).
//!
//! - [`ast`] parses and validates the input and its `#[hiqlite(...)]` attributes,
//! - [`expand`] writes `Decode`, `From<T> for Value`, `ColumnFit` and `ArgType`.

pub mod ast;
pub mod expand;

use proc_macro2::TokenStream;

/// The whole derive: the impls, or the errors (all of them, each at its span).
pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    try_derive(input).unwrap_or_else(|e| e.to_compile_error())
}

/// The derive without the error fallback, for tests.
pub fn try_derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let ty = ast::ValueType::from_input(input)?;
    Ok(expand::expand(&ty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn derive_str(input: TokenStream) -> Result<String, String> {
        let input: syn::DeriveInput = syn::parse2(input).unwrap();
        try_derive(&input).map(|t| t.to_string()).map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn text_enums_store_renamed_names() {
        let out = derive_str(quote! {
            #[hiqlite(rename_all = "snake_case")]
            enum Status { Active, OnHold, #[hiqlite(rename = "gone")] Deleted }
        })
        .unwrap();
        for needle in [
            "b\"active\" => :: core :: result :: Result :: Ok (Self :: Active)",
            "b\"on_hold\"",
            "b\"gone\"",
            "Status :: OnHold => \"on_hold\"",
            "type Storage = :: hiqlite :: types :: storage :: TEXT",
        ] {
            assert!(out.contains(needle), "{needle} not in {out}");
        }
    }

    #[test]
    fn integer_enums_store_discriminants() {
        let out = derive_str(quote! {
            #[hiqlite(storage = "integer")]
            enum Level { Low = 1, High = 5 }
        })
        .unwrap();
        assert!(out.contains("if i == Level :: High as i64"), "{out}");
        assert!(out.contains("storage :: INTEGER"), "{out}");
    }

    #[test]
    fn newtypes_delegate_to_the_inner_type() {
        let out = derive_str(quote!(
            struct UserId(i64);
        ))
        .unwrap();
        assert!(
            out.contains(
                "< i64 as :: hiqlite :: types :: Decode > :: decode (value) . map (UserId)"
            ),
            "{out}"
        );
        assert!(
            out.contains("type Storage = < i64 as :: hiqlite :: types :: ArgType > :: Storage"),
            "{out}"
        );
        let out = derive_str(quote!(
            struct Id<T>(T);
        ))
        .unwrap();
        assert!(
            out.contains("where T : :: hiqlite :: types :: Decode"),
            "{out}"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t| derive_str(t).unwrap_err();
        assert!(err(quote!(
            #[hiqlite(storage = "blob")]
            enum E {
                A,
            }
        ))
        .contains("unknown storage \"blob\""));
        assert!(err(quote!(
            enum E {
                A(i64),
            }
        ))
        .contains("variant `A` has fields"));
        assert!(err(quote!(
            struct S {
                a: i64,
            }
        ))
        .contains("newtype"));
        assert!(err(quote!(
            enum E {
                A,
                #[hiqlite(rename = "A")]
                B,
            }
        ))
        .contains("both be stored as \"A\""));
        assert!(err(quote!(
            #[hiqlite(storage = "integer", rename_all = "lowercase")]
            enum E {
                A,
            }
        ))
        .contains("rename_all applies"));
        assert!(err(quote!(
            #[hiqlite(rename_all = "Title")]
            enum E {
                A,
            }
        ))
        .contains("unknown rename_all rule"));
        assert!(err(quote!(
            #[hiqlite(frobnicate)]
            enum E {
                A,
            }
        ))
        .contains("unknown hiqlite attribute"));
        // Several mistakes are reported together.
        let both = err(quote!(
            #[hiqlite(storage = "x")]
            enum E {
                A(u8),
                B,
            }
        ));
        assert!(
            both.contains("unknown storage") && both.contains("has fields"),
            "{both}"
        );
    }

    #[test]
    fn rename_all_rules() {
        let c = |r| ast::convert_case(r, "HttpServer").unwrap();
        assert_eq!(c("snake_case"), "http_server");
        assert_eq!(c("SCREAMING_SNAKE_CASE"), "HTTP_SERVER");
        assert_eq!(c("kebab-case"), "http-server");
        assert_eq!(c("camelCase"), "httpServer");
        assert_eq!(c("lowercase"), "httpserver");
        assert_eq!(c("PascalCase"), "HttpServer");
    }
}
