//! Typed names of the replicated caches: what [`Client::cache`](crate::Client::cache) accepts.
//! A plain string still works; `#[derive(hiqlite::CacheName)]` on an enum of unit variants turns
//! the set of caches into a type (docs/cache.md, "Typed cache names").

use std::borrow::Cow;

/// Something that names one cache: a string, or an enum with `#[derive(hiqlite::CacheName)]`.
///
/// The name is the cache's key space: the `cache` column of the replicated `_hiqlite_cache` table.
/// [`cache_name`](Self::cache_name) must return the same name for the same value every time and
/// on every node and release of the application. Renaming a cache (a variant, or its
/// `#[cache(rename = "...")]`) orphans the keys written under the old name: they stay in the
/// table, unreachable through the new name, until they expire or are deleted with SQL.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// use hiqlite::{CacheName, CacheNames};
///
/// #[derive(hiqlite::CacheName)]
/// enum Caches {
///     Sessions,
///     #[cache(rename = "page-views")]
///     PageViews,
/// }
///
/// assert_eq!(Caches::Sessions.cache_name(), "sessions");
/// assert_eq!(Caches::NAMES, ["sessions", "page-views"]);
/// assert_eq!("sessions".cache_name(), "sessions");
/// # }
/// ```
pub trait CacheName {
    /// The cache's name (any string; compared byte for byte).
    fn cache_name(&self) -> Cow<'static, str>;
}

/// Every cache name of a type, as `#[derive(hiqlite::CacheName)]` implements it: for listing
/// an application's caches (to read their sizes, to clear them, ...).
pub trait CacheNames: CacheName {
    /// Each variant's name, in declaration order.
    const NAMES: &'static [&'static str];
}

impl CacheName for str {
    fn cache_name(&self) -> Cow<'static, str> {
        Cow::Owned(self.to_owned())
    }
}

impl CacheName for String {
    fn cache_name(&self) -> Cow<'static, str> {
        Cow::Owned(self.clone())
    }
}

impl CacheName for Cow<'static, str> {
    fn cache_name(&self) -> Cow<'static, str> {
        self.clone()
    }
}

/// `&str`, `&String`, `&MyCaches`, ...: a reference names what it points to.
impl<T: CacheName + ?Sized> CacheName for &T {
    fn cache_name(&self) -> Cow<'static, str> {
        (**self).cache_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: impl CacheName) -> Cow<'static, str> {
        n.cache_name()
    }

    #[test]
    fn strings_name_themselves() {
        let owned = String::from("sessions");
        assert_eq!(name("sessions"), "sessions");
        assert_eq!(name(&owned), "sessions");
        assert_eq!(name(owned.clone()), "sessions");
        assert_eq!(name(owned.as_str()), "sessions");
        let borrowed: Cow<'static, str> = Cow::Borrowed("sessions");
        assert!(matches!(name(borrowed), Cow::Borrowed("sessions")));
        assert_eq!(name(Cow::<'static, str>::Owned(owned)), "sessions");
    }
}
