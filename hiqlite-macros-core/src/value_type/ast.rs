//! The input of `#[derive(HiqliteType)]`, parsed and validated: an enum of unit variants stored as
//! TEXT (a name per variant) or INTEGER (the discriminant), or a newtype `struct Name(Inner)`.

use proc_macro2::Span;
use syn::spanned::Spanned;

/// What the derive generates code for.
pub enum ValueType<'a> {
    Enum {
        ident: &'a syn::Ident,
        storage: Storage,
        variants: Vec<Variant<'a>>,
    },
    Newtype {
        ident: &'a syn::Ident,
        generics: &'a syn::Generics,
        inner: &'a syn::Type,
    },
}

/// How an enum is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Each variant as its name (renamed by `rename`/`rename_all`).
    Text,
    /// Each variant as its discriminant (`Variant = 3`, or the implicit one).
    Integer,
}

pub struct Variant<'a> {
    pub ident: &'a syn::Ident,
    /// The stored text (`Storage::Text` only).
    pub name: String,
}

/// The attribute values of `#[hiqlite(...)]` the derive knows, for error messages.
const ON_ENUM: &str =
    "storage = \"text\" | \"integer\", rename_all = \"snake_case\" (or lowercase, \
                       UPPERCASE, SCREAMING_SNAKE_CASE, kebab-case, camelCase, PascalCase)";

impl<'a> ValueType<'a> {
    /// Parses and validates; every error points at what the user wrote.
    pub fn from_input(input: &'a syn::DeriveInput) -> syn::Result<ValueType<'a>> {
        match &input.data {
            syn::Data::Enum(data) => parse_enum(input, data),
            syn::Data::Struct(data) => {
                if let Some(attr) = input.attrs.iter().find(|a| a.path().is_ident("hiqlite")) {
                    return Err(syn::Error::new(
                        attr.span(),
                        "a newtype takes no #[hiqlite(...)] attributes: it is stored as its inner \
                         type",
                    ));
                }
                match &data.fields {
                    syn::Fields::Unnamed(f) if f.unnamed.len() == 1 => Ok(ValueType::Newtype {
                        ident: &input.ident,
                        generics: &input.generics,
                        inner: &f.unnamed[0].ty,
                    }),
                    _ => Err(syn::Error::new(
                        input.ident.span(),
                        "derive(HiqliteType) supports a newtype `struct Name(Inner);` (stored as \
                         `Inner`) or an enum of unit variants; for a struct read from a whole \
                         row, use derive(HiqliteRow)",
                    )),
                }
            }
            syn::Data::Union(_) => Err(syn::Error::new(
                input.ident.span(),
                "derive(HiqliteType) supports enums of unit variants and newtypes, not unions",
            )),
        }
    }
}

fn parse_enum<'a>(
    input: &'a syn::DeriveInput,
    data: &'a syn::DataEnum,
) -> syn::Result<ValueType<'a>> {
    let mut errors = Vec::new();
    let mut storage = None;
    let mut rename_all: Option<(String, Span)> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("hiqlite")) {
        let result = attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string);
            match name.as_deref() {
                Some("storage") => {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    storage = Some(match lit.value().as_str() {
                        "text" => Storage::Text,
                        "integer" => Storage::Integer,
                        other => {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "unknown storage \"{other}\" for an enum; expected \"text\" \
                                     (each variant's name) or \"integer\" (its discriminant)"
                                ),
                            ))
                        }
                    });
                }
                Some("rename_all") => {
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
                    rename_all = Some((lit.value(), lit.span()));
                }
                _ => {
                    return Err(
                        meta.error(format!("unknown hiqlite attribute; on an enum: {ON_ENUM}"))
                    )
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    let storage = storage.unwrap_or(Storage::Text);
    if let (Storage::Integer, Some((_, span))) = (storage, &rename_all) {
        errors.push(syn::Error::new(
            *span,
            "rename_all applies to storage = \"text\"; an integer enum stores discriminants",
        ));
    }
    if data.variants.is_empty() {
        errors.push(syn::Error::new(
            input.ident.span(),
            "derive(HiqliteType) needs at least one variant",
        ));
    }
    let mut variants: Vec<Variant<'a>> = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, syn::Fields::Unit) {
            errors.push(syn::Error::new(
                v.ident.span(),
                format!(
                    "variant `{}` has fields; derive(HiqliteType) stores enums of unit variants \
                     only (use `Json<T>` for data)",
                    v.ident
                ),
            ));
            continue;
        }
        let mut name = rename_all
            .as_ref()
            .and_then(|(rule, _)| convert_case(rule, &v.ident.to_string()))
            .unwrap_or_else(|| v.ident.to_string());
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("hiqlite")) {
            let result = attr.parse_nested_meta(|meta| {
                if !meta.path.is_ident("rename") {
                    return Err(meta.error("unknown hiqlite attribute; on a variant: rename = \"name\""));
                }
                if storage == Storage::Integer {
                    return Err(meta.error(
                        "rename applies to storage = \"text\"; an integer enum stores discriminants",
                    ));
                }
                let lit: syn::LitStr = meta.value()?.parse()?;
                name = lit.value();
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if storage == Storage::Text {
            if let Some(other) = variants.iter().find(|o| o.name == name) {
                errors.push(syn::Error::new(
                    v.ident.span(),
                    format!(
                        "variants `{}` and `{}` would both be stored as \"{name}\"",
                        other.ident, v.ident
                    ),
                ));
            }
        }
        variants.push(Variant {
            ident: &v.ident,
            name,
        });
    }
    crate::row::combine(errors)?;
    Ok(ValueType::Enum {
        ident: &input.ident,
        storage,
        variants,
    })
}

/// Renames a variant (`PascalCase` as written in Rust) by serde's `rename_all` rules; `None` for
/// an unknown rule.
pub fn convert_case(rule: &str, variant: &str) -> Option<String> {
    let words = split_words(variant);
    let joined =
        |sep: &str, f: fn(&str) -> String| words.iter().map(|w| f(w)).collect::<Vec<_>>().join(sep);
    let lower = |w: &str| w.to_lowercase();
    let upper = |w: &str| w.to_uppercase();
    let capital = |w: &str| {
        let mut c = w.chars();
        match c.next() {
            Some(f) => f
                .to_uppercase()
                .chain(c.flat_map(char::to_lowercase))
                .collect(),
            None => String::new(),
        }
    };
    Some(match rule {
        "lowercase" => variant.to_lowercase(),
        "UPPERCASE" => variant.to_uppercase(),
        "snake_case" => joined("_", lower),
        "SCREAMING_SNAKE_CASE" => joined("_", upper),
        "kebab-case" => joined("-", lower),
        "PascalCase" => joined("", capital),
        "camelCase" => {
            let pascal = joined("", capital);
            let mut c = pascal.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => String::new(),
            }
        }
        _ => return None,
    })
}

/// `HttpServer2` → `["Http", "Server2"]`; underscores also split.
fn split_words(ident: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in ident.chars() {
        if c == '_' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if c.is_uppercase() && !current.is_empty() {
            words.push(std::mem::take(&mut current));
            current.push(c);
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}
