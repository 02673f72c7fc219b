//! The field attributes of `#[derive(HiqliteRow)]`: `#[row(rename = "col")]`, `#[row(skip)]`,
//! `#[row(flatten)]`, `#[row(from_str)]`, `#[row(try_from = "T")]`, `#[row(with = "path")]`.

use proc_macro2::Span;

/// The attribute names a field accepts, for error messages.
pub const KNOWN: &str =
    "rename = \"column\", skip, flatten, from_str, try_from = \"Type\", with = \"path::to::fn\"";

/// A value given to an attribute, with the span of the attribute for error messages.
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// Everything `#[row(...)]` says about one field; each entry remembers where it was written.
#[derive(Default)]
pub struct FieldAttrs {
    /// Read this column instead of the field's name.
    pub rename: Option<Spanned<String>>,
    /// Do not read a column; use `Default::default()`.
    pub skip: Option<Span>,
    /// The field is a struct implementing `FromRow`, read from the same row.
    pub flatten: Option<Span>,
    /// Read the column as text and parse it with `FromStr`.
    pub from_str: Option<Span>,
    /// Read the column as this type and convert with `TryFrom`.
    pub try_from: Option<Spanned<syn::Type>>,
    /// Read the column as a `hiqlite::Value` and convert it with this function.
    pub with: Option<Spanned<syn::Path>>,
}

impl FieldAttrs {
    /// Reads every `#[row(...)]` of a field (several are merged); other attributes are ignored.
    pub fn parse(attrs: &[syn::Attribute]) -> syn::Result<Self> {
        let mut out = FieldAttrs::default();
        let mut errors = Vec::new();
        for attr in attrs.iter().filter(|a| a.path().is_ident("row")) {
            let result = attr.parse_nested_meta(|meta| {
                let span = syn::spanned::Spanned::span(&meta.path);
                let name = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let duplicate = |set: bool| {
                    if set {
                        Err(syn::Error::new(
                            span,
                            format!("`{name}` is given twice for this field"),
                        ))
                    } else {
                        Ok(())
                    }
                };
                match name.as_str() {
                    "rename" => {
                        duplicate(out.rename.is_some())?;
                        let lit: syn::LitStr = string_value(&meta, "rename = \"column_name\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(lit.span(), "the column name is empty"));
                        }
                        out.rename = Some(Spanned {
                            value: lit.value(),
                            span,
                        });
                    }
                    "skip" => {
                        duplicate(out.skip.is_some())?;
                        no_value(&meta, "skip")?;
                        out.skip = Some(span);
                    }
                    "flatten" => {
                        duplicate(out.flatten.is_some())?;
                        no_value(&meta, "flatten")?;
                        out.flatten = Some(span);
                    }
                    "from_str" => {
                        duplicate(out.from_str.is_some())?;
                        no_value(&meta, "from_str")?;
                        out.from_str = Some(span);
                    }
                    "try_from" => {
                        duplicate(out.try_from.is_some())?;
                        let lit = string_value(&meta, "try_from = \"i64\"")?;
                        let ty = lit.parse::<syn::Type>().map_err(|e| {
                            syn::Error::new(lit.span(), format!("`try_from` needs a type: {e}"))
                        })?;
                        out.try_from = Some(Spanned { value: ty, span });
                    }
                    "with" => {
                        duplicate(out.with.is_some())?;
                        let lit = string_value(&meta, "with = \"path::to::function\"")?;
                        let path = lit.parse::<syn::Path>().map_err(|e| {
                            syn::Error::new(
                                lit.span(),
                                format!("`with` needs the path of a function: {e}"),
                            )
                        })?;
                        out.with = Some(Spanned { value: path, span });
                    }
                    _ => {
                        let shown = if name.is_empty() {
                            "this".to_string()
                        } else {
                            format!("`{name}`")
                        };
                        return Err(syn::Error::new(
                            span,
                            format!("unknown row attribute {shown}; expected one of: {KNOWN}"),
                        ));
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        super::combine(errors)?;
        Ok(out)
    }
}

fn string_value(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<syn::LitStr> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("expected a value: `#[row({example})]`")));
    }
    let value = meta.value()?;
    value
        .parse::<syn::LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("expected a string: `#[row({example})]`")))
}

fn no_value(meta: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`{name}` takes no value: write `#[row({name})]`")));
    }
    Ok(())
}
