//! The code of `#[derive(HiqliteType)]`: reading (`Decode`), binding (`From<T> for Value`, also
//! from `&T`), and what the build-time checks need (`ColumnFit`, `ArgType`). Paths are
//! `::hiqlite::...` only.

use proc_macro2::TokenStream;
use quote::quote;

use super::ast::{Storage, ValueType};

pub fn expand(ty: &ValueType<'_>) -> TokenStream {
    match ty {
        ValueType::Enum {
            ident,
            storage,
            variants,
        } => {
            let t = quote!(::hiqlite::types);
            let idents: Vec<_> = variants.iter().map(|v| v.ident).collect();
            let type_name = ident.to_string();
            let (decode, stored, accepts, arg) = match storage {
                Storage::Text => {
                    let names: Vec<_> = variants.iter().map(|v| v.name.as_str()).collect();
                    let name_bytes = names.iter().map(|n| {
                        syn::LitByteStr::new(n.as_bytes(), proc_macro2::Span::call_site())
                    });
                    let expected = names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let decode = quote! {
                        match value {
                            #t::ValueRef::Text(text) => match text {
                                #(#name_bytes => ::core::result::Result::Ok(Self::#idents),)*
                                other => ::core::result::Result::Err(#t::DecodeError::Invalid(
                                    ::std::format!(
                                        "{:?} is not a `{}` (expected one of: {})",
                                        ::std::string::String::from_utf8_lossy(other),
                                        #type_name,
                                        #expected,
                                    ),
                                )),
                            },
                            _ => ::core::result::Result::Err(#t::DecodeError::InvalidType),
                        }
                    };
                    let stored = quote! {
                        ::hiqlite::Value::Text(::std::string::String::from(match v {
                            #(#ident::#idents => #names,)*
                        }))
                    };
                    (
                        decode,
                        stored,
                        quote!(#t::kind::TEXT),
                        quote!(#t::storage::TEXT),
                    )
                }
                Storage::Integer => {
                    let decode = quote! {
                        match value {
                            #t::ValueRef::Integer(i) => {
                                #(if i == #ident::#idents as i64 {
                                    return ::core::result::Result::Ok(#ident::#idents);
                                })*
                                let expected: &[i64] = &[#(#ident::#idents as i64),*];
                                ::core::result::Result::Err(#t::DecodeError::Invalid(
                                    ::std::format!(
                                        "{} is not a `{}` (expected one of: {:?})",
                                        i, #type_name, expected,
                                    ),
                                ))
                            }
                            _ => ::core::result::Result::Err(#t::DecodeError::InvalidType),
                        }
                    };
                    let stored = quote! {
                        ::hiqlite::Value::Integer(match v {
                            #(#ident::#idents => #ident::#idents as i64,)*
                        })
                    };
                    (
                        decode,
                        stored,
                        quote!(#t::kind::INTEGER | #t::kind::BOOL),
                        quote!(#t::storage::INTEGER),
                    )
                }
            };
            quote! {
                impl #t::Decode for #ident {
                    fn decode(
                        value: #t::ValueRef<'_>,
                    ) -> ::core::result::Result<Self, #t::DecodeError> {
                        #decode
                    }
                }
                impl ::core::convert::From<&#ident> for ::hiqlite::Value {
                    fn from(v: &#ident) -> Self {
                        #stored
                    }
                }
                impl ::core::convert::From<#ident> for ::hiqlite::Value {
                    fn from(v: #ident) -> Self {
                        ::hiqlite::Value::from(&v)
                    }
                }
                impl #t::ColumnFit for #ident {
                    const ACCEPTS: u32 = #accepts;
                }
                impl #t::ArgType for #ident {
                    type Storage = #arg;
                }
            }
        }
        ValueType::Newtype {
            ident,
            generics,
            inner,
        } => {
            let t = quote!(::hiqlite::types);
            let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
            let bounded = |bound: TokenStream| {
                let mut g = (*generics).clone();
                g.make_where_clause()
                    .predicates
                    .push(syn::parse_quote!(#inner: #bound));
                g
            };
            let decode_g = bounded(quote!(#t::Decode));
            let (_, _, decode_where) = decode_g.split_for_impl();
            let arg_g = bounded(quote!(#t::ArgType));
            let (_, _, arg_where) = arg_g.split_for_impl();
            let mut from_g = (*generics).clone();
            from_g
                .make_where_clause()
                .predicates
                .push(syn::parse_quote!(::hiqlite::Value: ::core::convert::From<#inner>));
            let (_, _, from_where) = from_g.split_for_impl();
            quote! {
                impl #impl_generics #t::Decode for #ident #ty_generics #decode_where {
                    fn decode(
                        value: #t::ValueRef<'_>,
                    ) -> ::core::result::Result<Self, #t::DecodeError> {
                        <#inner as #t::Decode>::decode(value).map(#ident)
                    }
                }
                impl #impl_generics ::core::convert::From<#ident #ty_generics> for ::hiqlite::Value #from_where {
                    fn from(v: #ident #ty_generics) -> Self {
                        ::hiqlite::Value::from(v.0)
                    }
                }
                impl #impl_generics #t::ColumnFit for #ident #ty_generics #where_clause {
                    const ACCEPTS: u32 = {
                        #[allow(unused_imports)]
                        use ::hiqlite::typed::__private::ProbeFallback as _;
                        ::hiqlite::typed::__private::Probe::<#inner>::ACCEPTS
                    };
                }
                impl #impl_generics #t::ArgType for #ident #ty_generics #arg_where {
                    type Storage = <#inner as #t::ArgType>::Storage;
                }
            }
        }
    }
}
