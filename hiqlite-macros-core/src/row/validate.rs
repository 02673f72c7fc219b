//! Refuses attribute combinations that cannot both hold, pointing at the second attribute.

use proc_macro2::Span;

use super::ast::RowStruct;

/// Checks every field; reports all problems at once, unreadable attributes included.
pub fn validate(row: &RowStruct<'_>) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = row.errors.clone();
    for field in &row.fields {
        let a = &field.attrs;
        // Every attribute that is set, in the order a reader sees them.
        let mut set: Vec<(&str, Span)> = Vec::new();
        if let Some(r) = &a.rename {
            set.push(("rename", r.span));
        }
        if let Some(s) = a.skip {
            set.push(("skip", s));
        }
        if let Some(s) = a.flatten {
            set.push(("flatten", s));
        }
        if let Some(s) = a.from_str {
            set.push(("from_str", s));
        }
        if let Some(t) = &a.try_from {
            set.push(("try_from", t.span));
        }
        if let Some(w) = &a.with {
            set.push(("with", w.span));
        }
        // skip and flatten read no column of their own: nothing else applies to them.
        for exclusive in ["skip", "flatten"] {
            if set.iter().any(|(n, _)| *n == exclusive) {
                if let Some((other, span)) = set.iter().find(|(n, _)| *n != exclusive) {
                    errors.push(syn::Error::new(
                        *span,
                        format!(
                            "`{other}` cannot be combined with `{exclusive}`: a {exclusive} field \
                             reads no column of its own"
                        ),
                    ));
                }
            }
        }
        // At most one conversion.
        let conversions: Vec<_> = set
            .iter()
            .filter(|(n, _)| matches!(*n, "from_str" | "try_from" | "with"))
            .collect();
        if let [(first, _), (second, span), ..] = conversions.as_slice() {
            errors.push(syn::Error::new(
                *span,
                format!("`{second}` conflicts with `{first}`: a field has at most one conversion"),
            ));
        }
    }
    super::combine(errors)
}
