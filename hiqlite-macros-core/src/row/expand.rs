//! Writes the code of `#[derive(HiqliteRow)]`: a `hiqlite::FromRow` impl that reads each field
//! by column name, and a `RowShape` impl that `query_as!` checks its result columns against at
//! compile time. Generated code refers to `::hiqlite::...` paths only.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::ast::{option_inner, RowField, RowStruct};

/// The impls for a validated struct.
pub fn expand(row: &RowStruct<'_>) -> TokenStream {
    let ident = row.ident;
    let generics = with_bounds(row);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let name = ident.to_string();
    let inits = row.fields.iter().map(|f| {
        let field = f.ident;
        let value = read_expr(&name, f);
        quote! { #field: #value }
    });
    let shape_fields = row
        .fields
        .iter()
        .filter(|f| f.attrs.skip.is_none() && f.attrs.flatten.is_none())
        .map(|f| shape_field(f));
    let nested = row
        .fields
        .iter()
        .filter(|f| f.attrs.flatten.is_some())
        .map(|f| {
            let ty = f.ty;
            quote! { ::hiqlite::typed::__private::Probe::<#ty>::SHAPE }
        });
    quote! {
        impl #impl_generics ::hiqlite::FromRow for #ident #ty_generics #where_clause {
            fn from_row(
                row: &::hiqlite::Row<'_>,
            ) -> ::core::result::Result<Self, ::hiqlite::Error> {
                ::core::result::Result::Ok(Self { #(#inits,)* })
            }
        }

        impl #impl_generics ::hiqlite::typed::__private::RowShape for #ident #ty_generics #where_clause {
            const SHAPE: &'static ::hiqlite::typed::__private::Shape = {
                #[allow(unused_imports)]
                use ::hiqlite::typed::__private::ProbeFallback as _;
                &::hiqlite::typed::__private::Shape {
                    name: #name,
                    fields: &[#(#shape_fields,)*],
                    nested: &[#(#nested,)*],
                }
            };
        }
    }
}

/// The struct's generics plus, for each field whose type uses a type parameter, the bound its
/// read needs (`T: Decode`, `Inner<T>: FromRow`, `T: Default`), so `struct Page<T> { item: T }`
/// derives without the user spelling out bounds.
fn with_bounds(row: &RowStruct<'_>) -> syn::Generics {
    let mut generics = row.generics.clone();
    let params: Vec<String> = row
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();
    if params.is_empty() {
        return generics;
    }
    let uses_param = |ty: &syn::Type| {
        fn walk(tokens: proc_macro2::TokenStream, params: &[String]) -> bool {
            tokens.into_iter().any(|t| match t {
                proc_macro2::TokenTree::Ident(i) => params.iter().any(|p| i == p),
                proc_macro2::TokenTree::Group(g) => walk(g.stream(), params),
                _ => false,
            })
        }
        walk(quote!(#ty), &params)
    };
    let predicates = row
        .fields
        .iter()
        .filter(|f| uses_param(f.ty))
        .filter_map(|f| {
            let ty = f.ty;
            let a = &f.attrs;
            if a.skip.is_some() {
                Some(quote!(#ty: ::core::default::Default))
            } else if a.flatten.is_some() {
                Some(quote!(#ty: ::hiqlite::FromRow))
            } else if a.from_str.is_some() || a.try_from.is_some() || a.with.is_some() {
                // Conversions state their own requirements; the user bounds the parameter.
                None
            } else {
                Some(quote!(#ty: ::hiqlite::typed::__private::Decode))
            }
        });
    let where_clause = generics.make_where_clause();
    for p in predicates {
        if let Ok(pred) = syn::parse2::<syn::WherePredicate>(p) {
            where_clause.predicates.push(pred);
        }
    }
    generics
}

/// A `FromRow` impl that is never called, emitted next to a `compile_error!` so the struct's
/// uses do not add "FromRow is not implemented" errors to the real one.
pub fn stub(input: &syn::DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::hiqlite::FromRow for #ident #ty_generics #where_clause {
            fn from_row(
                _: &::hiqlite::Row<'_>,
            ) -> ::core::result::Result<Self, ::hiqlite::Error> {
                ::core::unreachable!("HiqliteRow failed to derive")
            }
        }
    }
}

/// Describes the field for runtime error messages (`User.email`, column "mail").
fn field_info(struct_name: &str, f: &RowField<'_>) -> TokenStream {
    let field = f.name();
    let column = f.column();
    let ty = type_string(f.ty);
    quote! {
        &::hiqlite::typed::__private::Field {
            strukt: #struct_name,
            field: #field,
            column: #column,
            ty: #ty,
        }
    }
}

/// The expression that produces the field's value from `row`.
fn read_expr(struct_name: &str, f: &RowField<'_>) -> TokenStream {
    let ty = f.ty;
    let a = &f.attrs;
    let span = f.ident.span();
    let p = quote! { ::hiqlite::typed::__private };
    if a.skip.is_some() {
        return quote_spanned! {span=> ::core::default::Default::default() };
    }
    if a.flatten.is_some() {
        return quote_spanned! {span=> <#ty as ::hiqlite::FromRow>::from_row(row)? };
    }
    let info = field_info(struct_name, f);
    let optional = option_inner(ty).is_some();
    if a.from_str.is_some() {
        return if optional {
            quote_spanned! {span=> #p::read_from_str_opt(row, #info)? }
        } else {
            quote_spanned! {span=> #p::read_from_str(row, #info)? }
        };
    }
    if let Some(source) = &a.try_from {
        let source = &source.value;
        return if optional {
            quote_spanned! {span=> #p::read_try_from_opt::<#source, _>(row, #info)? }
        } else {
            quote_spanned! {span=> #p::read_try_from::<#source, _>(row, #info)? }
        };
    }
    if let Some(with) = &a.with {
        let path = &with.value;
        return quote_spanned! {span=> #p::read_with(row, #info, #path)? };
    }
    quote_spanned! {span=> #p::read::<#ty>(row, #info)? }
}

/// The field's entry in the shape: its column and which SQL column kinds it can hold.
fn shape_field(f: &RowField<'_>) -> TokenStream {
    let field = f.name();
    let column = f.column();
    let ty_string = type_string(f.ty);
    let p = quote! { ::hiqlite::typed::__private };
    let optional = option_inner(f.ty).is_some();
    let a = &f.attrs;
    let accepts = if a.from_str.is_some() {
        if optional {
            quote! { #p::Probe::<::core::option::Option<::std::string::String>>::ACCEPTS }
        } else {
            quote! { #p::Probe::<::std::string::String>::ACCEPTS }
        }
    } else if let Some(source) = &a.try_from {
        let source = &source.value;
        if optional {
            quote! { #p::Probe::<::core::option::Option<#source>>::ACCEPTS }
        } else {
            quote! { #p::Probe::<#source>::ACCEPTS }
        }
    } else if a.with.is_some() {
        quote! { #p::kind::UNKNOWN }
    } else {
        let ty = f.ty;
        quote! { #p::Probe::<#ty>::ACCEPTS }
    };
    quote! {
        #p::FieldShape {
            field: #field,
            column: #column,
            ty: #ty_string,
            accepts: #accepts,
        }
    }
}

/// A type as a user would write it: `Option<String>`, not `Option < String >`.
pub fn type_string(ty: &syn::Type) -> String {
    let raw = quote!(#ty).to_string();
    let mut out = String::with_capacity(raw.len());
    let chars: Vec<char> = raw.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let glued = matches!(prev, Some('<' | ':' | '&' | '(' | '['))
            || matches!(next, Some('<' | '>' | ':' | ',' | ';' | ')' | ']'));
        if c == ' ' && glued {
            continue;
        }
        out.push(c);
    }
    out
}
