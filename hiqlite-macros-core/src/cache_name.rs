//! `#[derive(CacheName)]`: an enum of unit variants names the caches of an application, so a
//! cache name is written once and a typo is a compile error (`client.cache(Caches::Sessions)`).
//!
//! Parse and validate ([`CacheEnum::from_input`]), then expand ([`expand`]): `hiqlite::CacheName`
//! (each variant's name) and `hiqlite::CacheNames` (every name, in declaration order). The name
//! of a variant is its snake_case name, or the enum's `#[cache(rename_all = "...")]` rule (the
//! rules of `derive(HiqliteType)`), or the variant's own `#[cache(rename = "...")]`.
//!
//! Every error carries the span of what the user wrote, all are reported in one pass, and a stub
//! impl follows them so a use of the enum as a cache name adds no second error.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;

use crate::value_type::ast::convert_case;

/// The attribute keys the derive knows, for error messages.
const ON_ENUM: &str = "rename_all = \"snake_case\" (or kebab-case, lowercase, UPPERCASE, \
                       SCREAMING_SNAKE_CASE, camelCase, PascalCase)";
const ON_VARIANT: &str = "rename = \"name\"";

/// The validated input: the enum and the final name of each variant.
pub struct CacheEnum<'a> {
    pub ident: &'a syn::Ident,
    pub generics: &'a syn::Generics,
    pub variants: Vec<CacheVariant<'a>>,
}

pub struct CacheVariant<'a> {
    pub ident: &'a syn::Ident,
    /// The cache's name: the key space in `_hiqlite_cache`.
    pub name: String,
}

/// The whole derive: the impls, or every error (each at its span) plus a stub impl.
pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    match try_derive(input) {
        Ok(tokens) => tokens,
        Err(err) => {
            let mut tokens = err.to_compile_error();
            tokens.extend(stub(input));
            tokens
        }
    }
}

/// The derive without the error fallback, for tests.
pub fn try_derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    Ok(expand(&CacheEnum::from_input(input)?))
}

impl<'a> CacheEnum<'a> {
    /// Parses and validates `input`.
    ///
    /// # Errors
    /// A struct or union; an enum without variants; a variant with fields; an unknown or
    /// malformed `#[cache(...)]` key; an unknown `rename_all` rule; an empty name; two variants
    /// with the same final name. All of them at once, each at its span.
    pub fn from_input(input: &'a syn::DeriveInput) -> syn::Result<CacheEnum<'a>> {
        let data = match &input.data {
            syn::Data::Enum(data) => data,
            syn::Data::Struct(_) | syn::Data::Union(_) => {
                return Err(syn::Error::new(
                    input.ident.span(),
                    "derive(CacheName) supports an enum of unit variants (one per cache), \
                     e.g. `enum Caches { Sessions, PageViews }`",
                ))
            }
        };
        let mut errors = Vec::new();
        let mut rule = String::from("snake_case");
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("cache")) {
            let result = attr.parse_nested_meta(|meta| {
                if !meta.path.is_ident("rename_all") {
                    return Err(
                        meta.error(format!("unknown cache attribute; on an enum: {ON_ENUM}"))
                    );
                }
                let lit: syn::LitStr = meta.value()?.parse()?;
                if convert_case(&lit.value(), "Check").is_none() {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!(
                            "unknown rename_all rule \"{}\"; expected one of: {ON_ENUM}",
                            lit.value()
                        ),
                    ));
                }
                rule = lit.value();
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if data.variants.is_empty() {
            errors.push(syn::Error::new(
                input.ident.span(),
                "derive(CacheName) needs at least one variant (one per cache)",
            ));
        }
        let mut variants: Vec<CacheVariant<'a>> = Vec::new();
        for v in &data.variants {
            if !matches!(v.fields, syn::Fields::Unit) {
                errors.push(syn::Error::new(
                    v.fields.span(),
                    format!(
                        "variant `{}` has fields; derive(CacheName) names caches with unit \
                         variants only",
                        v.ident
                    ),
                ));
                continue;
            }
            // `rule` was checked above, or is the default; an unknown one already has its error.
            let mut name =
                convert_case(&rule, &v.ident.to_string()).unwrap_or_else(|| v.ident.to_string());
            let mut name_span = v.ident.span();
            for attr in v.attrs.iter().filter(|a| a.path().is_ident("cache")) {
                let result = attr.parse_nested_meta(|meta| {
                    if !meta.path.is_ident("rename") {
                        return Err(meta.error(format!(
                            "unknown cache attribute; on a variant: {ON_VARIANT}"
                        )));
                    }
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(lit.span(), "a cache name cannot be empty"));
                    }
                    name = lit.value();
                    name_span = lit.span();
                    Ok(())
                });
                if let Err(e) = result {
                    errors.push(e);
                }
            }
            if let Some(other) = variants.iter().find(|o| o.name == name) {
                errors.push(syn::Error::new(
                    name_span,
                    format!(
                        "variants `{}` and `{}` would both name the cache \"{name}\" (one key \
                         space); give one a different #[cache(rename = \"...\")]",
                        other.ident, v.ident
                    ),
                ));
            }
            variants.push(CacheVariant {
                ident: &v.ident,
                name,
            });
        }
        crate::row::combine(errors)?;
        Ok(CacheEnum {
            ident: &input.ident,
            generics: &input.generics,
            variants,
        })
    }
}

/// `impl hiqlite::CacheName` (a `match` to a `&'static str`, no allocation) and `impl
/// hiqlite::CacheNames` (the names in declaration order).
pub fn expand(e: &CacheEnum<'_>) -> TokenStream {
    let ident = e.ident;
    let (impl_generics, ty_generics, where_clause) = e.generics.split_for_impl();
    let idents: Vec<_> = e.variants.iter().map(|v| v.ident).collect();
    let names: Vec<_> = e
        .variants
        .iter()
        .map(|v| syn::LitStr::new(&v.name, Span::call_site()))
        .collect();
    quote! {
        impl #impl_generics ::hiqlite::CacheName for #ident #ty_generics #where_clause {
            fn cache_name(&self) -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(match self {
                    #(Self::#idents => #names,)*
                })
            }
        }
        impl #impl_generics ::hiqlite::CacheNames for #ident #ty_generics #where_clause {
            const NAMES: &'static [&'static str] = &[#(#names),*];
        }
    }
}

/// What the derive emits after its errors: both traits, so `client.cache(MyEnum::X)` adds no
/// "trait not implemented" to the message that matters.
pub fn stub(input: &syn::DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::hiqlite::CacheName for #ident #ty_generics #where_clause {
            fn cache_name(&self) -> ::std::borrow::Cow<'static, str> {
                ::core::unreachable!("CacheName failed to derive")
            }
        }
        impl #impl_generics ::hiqlite::CacheNames for #ident #ty_generics #where_clause {
            const NAMES: &'static [&'static str] = &[];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: TokenStream) -> syn::DeriveInput {
        syn::parse2(input).unwrap()
    }

    fn derive_str(input: TokenStream) -> Result<String, String> {
        try_derive(&parse(input))
            .map(|t| t.to_string())
            .map_err(|e| {
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    /// Each error's message (their spans are checked by the trybuild case
    /// `hiqlite/tests/ui/fail/derive_cache_name.rs`).
    fn errors(input: TokenStream) -> Vec<String> {
        let err = try_derive(&parse(input)).unwrap_err();
        err.into_iter().map(|e| e.to_string()).collect()
    }

    fn names(input: TokenStream) -> Vec<String> {
        let input = parse(input);
        CacheEnum::from_input(&input)
            .unwrap()
            .variants
            .into_iter()
            .map(|v| v.name)
            .collect()
    }

    #[test]
    fn cache_name_expands_to_both_traits() {
        let out = derive_str(quote! {
            enum Caches { Sessions, #[cache(rename = "page-views")] PageViews, HttpServer2 }
        })
        .unwrap();
        for needle in [
            "impl :: hiqlite :: CacheName for Caches",
            "fn cache_name (& self) -> :: std :: borrow :: Cow < 'static , str >",
            ":: std :: borrow :: Cow :: Borrowed (match self { Self :: Sessions => \"sessions\" , \
             Self :: PageViews => \"page-views\" , Self :: HttpServer2 => \"http_server2\" , })",
            "impl :: hiqlite :: CacheNames for Caches",
            "const NAMES : & 'static [& 'static str] = & [\"sessions\" , \"page-views\" , \
             \"http_server2\"]",
        ] {
            assert!(out.contains(needle), "{needle}\nnot in\n{out}");
        }
    }

    #[test]
    fn cache_name_rules() {
        // snake_case by default.
        assert_eq!(
            names(quote!(
                enum C {
                    Sessions,
                    PageViews,
                    Api_Keys,
                }
            )),
            ["sessions", "page_views", "api_keys"]
        );
        for (rule, expected) in [
            ("snake_case", "page_views"),
            ("kebab-case", "page-views"),
            ("lowercase", "pageviews"),
            ("SCREAMING_SNAKE_CASE", "PAGE_VIEWS"),
            ("camelCase", "pageViews"),
        ] {
            let got = names(quote!(
                #[cache(rename_all = #rule)]
                enum C {
                    PageViews,
                    #[cache(rename = "Kept As Is")]
                    Other,
                }
            ));
            assert_eq!(got, [expected, "Kept As Is"], "rule {rule}");
        }
    }

    #[test]
    fn cache_name_refuses_a_struct_and_a_union() {
        for input in [
            quote!(
                struct Caches;
            ),
            quote!(
                struct Caches {
                    name: String,
                }
            ),
            quote!(
                union U {
                    a: u8,
                }
            ),
        ] {
            let e = errors(input);
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(e[0].contains("supports an enum of unit variants"), "{e:?}");
        }
    }

    #[test]
    fn cache_name_refuses_variants_with_fields() {
        let e = errors(quote!(
            enum C {
                Sessions,
                User(u64),
                Named { id: u64 },
            }
        ));
        assert_eq!(
            e,
            [
                "variant `User` has fields; derive(CacheName) names caches with unit variants only",
                "variant `Named` has fields; derive(CacheName) names caches with unit variants \
                 only",
            ]
        );
    }

    #[test]
    fn cache_name_refuses_duplicate_names() {
        // After renaming: a rename, and two idents that one rule maps to the same name.
        let e = errors(quote!(
            enum C {
                Sessions,
                #[cache(rename = "sessions")]
                Logins,
            }
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "variants `Sessions` and `Logins` would both name the cache \"sessions\""
            ),
            "{e:?}"
        );
        let e = errors(quote!(
            #[cache(rename_all = "lowercase")]
            enum C {
                PageViews,
                Pageviews,
            }
        ));
        assert!(
            e[0].contains("`PageViews` and `Pageviews` would both name the cache \"pageviews\""),
            "{e:?}"
        );
    }

    #[test]
    fn cache_name_refuses_unknown_attributes() {
        let e = errors(quote!(
            #[cache(rename_al = "kebab-case")]
            enum C {
                #[cache(name = "x")]
                A,
                #[cache(rename)]
                B,
            }
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("unknown cache attribute; on an enum: rename_all"),
            "{e:?}"
        );
        assert_eq!(
            e[1],
            "unknown cache attribute; on a variant: rename = \"name\""
        );
        assert!(e[2].contains("expected `=`"), "{e:?}");

        let e = errors(quote!(
            #[cache(rename_all = "Title Case")]
            enum C {
                #[cache(rename = "")]
                A,
            }
        ));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("unknown rename_all rule \"Title Case\""),
            "{e:?}"
        );
        assert_eq!(e[1], "a cache name cannot be empty");

        let e = errors(quote!(
            enum C {}
        ));
        assert_eq!(
            e,
            ["derive(CacheName) needs at least one variant (one per cache)"]
        );
    }

    #[test]
    fn cache_name_errors_keep_a_stub() {
        let out = derive(&parse(quote!(
            struct Caches;
        )))
        .to_string();
        assert!(out.contains(":: core :: compile_error !"), "{out}");
        assert!(
            out.contains("impl :: hiqlite :: CacheName for Caches"),
            "{out}"
        );
        assert!(
            out.contains("impl :: hiqlite :: CacheNames for Caches"),
            "{out}"
        );
    }
}
