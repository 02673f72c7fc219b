//! The typed model of a struct that derives `HiqliteRow`.

use syn::spanned::Spanned;

use super::attr::FieldAttrs;

/// A struct with named fields, ready for validation and expansion.
pub struct RowStruct<'a> {
    pub ident: &'a syn::Ident,
    pub generics: &'a syn::Generics,
    pub fields: Vec<RowField<'a>>,
    /// Attribute errors of fields that could not be read; reported together with validation.
    pub errors: Vec<syn::Error>,
}

/// One named field and what its `#[row(...)]` attributes say.
pub struct RowField<'a> {
    pub ident: &'a syn::Ident,
    pub ty: &'a syn::Type,
    pub attrs: FieldAttrs,
}

impl<'a> RowStruct<'a> {
    /// Parses the derive input. Refuses enums, unions, tuple and unit structs and container-level
    /// `#[row(...)]` attributes; bad field attributes are collected in `errors`.
    pub fn from_input(input: &'a syn::DeriveInput) -> syn::Result<Self> {
        if let Some(attr) = input.attrs.iter().find(|a| a.path().is_ident("row")) {
            return Err(syn::Error::new(
                attr.span(),
                "`#[row(...)]` goes on fields; HiqliteRow has no struct-level attributes",
            ));
        }
        let data = match &input.data {
            syn::Data::Struct(data) => data,
            syn::Data::Enum(e) => {
                return Err(syn::Error::new(
                    e.enum_token.span,
                    "HiqliteRow can only be derived for a struct with named fields, not for an \
                     enum; implement `hiqlite::FromRow` by hand to pick a variant from a row",
                ))
            }
            syn::Data::Union(u) => return Err(syn::Error::new(
                u.union_token.span,
                "HiqliteRow can only be derived for a struct with named fields, not for a union",
            )),
        };
        let named =
            match &data.fields {
                syn::Fields::Named(named) => named,
                syn::Fields::Unnamed(fields) => {
                    return Err(syn::Error::new(
                        fields.span(),
                        "HiqliteRow maps columns by name and needs named fields; for columns by \
                     position use a tuple such as `(i64, String)`, which implements FromRow",
                    ))
                }
                syn::Fields::Unit => return Err(syn::Error::new(
                    input.ident.span(),
                    "HiqliteRow needs a struct with named fields; a unit struct has no field to \
                     read a column into",
                )),
            };
        let mut fields = Vec::new();
        let mut errors = Vec::new();
        for field in &named.named {
            // Named fields always have an ident.
            let Some(ident) = field.ident.as_ref() else {
                continue;
            };
            match FieldAttrs::parse(&field.attrs) {
                Ok(attrs) => fields.push(RowField {
                    ident,
                    ty: &field.ty,
                    attrs,
                }),
                Err(e) => errors.push(e),
            }
        }
        Ok(RowStruct {
            ident: &input.ident,
            generics: &input.generics,
            fields,
            errors,
        })
    }
}

impl RowField<'_> {
    /// The column this field reads: the `rename` or the field name (without `r#`).
    pub fn column(&self) -> String {
        match &self.attrs.rename {
            Some(rename) => rename.value.clone(),
            None => unraw(self.ident),
        }
    }

    /// The field name as the user writes it, without `r#`.
    pub fn name(&self) -> String {
        unraw(self.ident)
    }
}

fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// `Some(T)` when `ty` is written `Option<T>` (also `std::option::Option<T>`).
pub fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}
