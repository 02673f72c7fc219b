//! The argument check of `query!`: which storage class an argument is bound as, looked up at
//! the macro's call site where the argument's type is known.
//!
//! For each argument compared with or written to a column, the macro emits a small local trait
//! implemented for the storage classes the column accepts, with a `diagnostic::on_unimplemented`
//! message naming the argument and the column, and calls a function bounded by it with
//! `(&&ArgProbe::of(&arg)).storage()`. Method resolution picks [`ArgStorage`] when the argument's
//! type implements [`ArgType`] and [`ArgStorageUnknown`] (→ [`storage::DYNAMIC`], accepted
//! everywhere) otherwise, so arguments of types the check does not know still compile.

use std::marker::PhantomData;

use crate::types::sql_type::{storage, ArgType};

/// Wraps a reference to an argument for the lookup.
pub struct ArgProbe<T: ?Sized>(PhantomData<fn(&T)>);

impl<T: ?Sized> ArgProbe<T> {
    pub fn of(_: &T) -> Self {
        ArgProbe(PhantomData)
    }
}

/// The storage class `S` as a value, so the macro's generated function can bound `S`.
pub struct Stored<S: ?Sized>(PhantomData<fn() -> S>);

impl<S: ?Sized> Stored<S> {
    /// The storage class of a literal argument, which the macro knows from its token.
    pub fn new() -> Self {
        Stored(PhantomData)
    }
}

impl<S: ?Sized> Default for Stored<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Chosen when the argument's type implements [`ArgType`] (one autoref closer than the fallback).
pub trait ArgStorage {
    type Storage;
    fn storage(&self) -> Stored<Self::Storage>;
}

impl<T: ArgType + ?Sized> ArgStorage for &ArgProbe<T> {
    type Storage = T::Storage;
    fn storage(&self) -> Stored<T::Storage> {
        Stored(PhantomData)
    }
}

/// Chosen for arguments whose type has no [`ArgType`]: not checked.
pub trait ArgStorageUnknown {
    fn storage(&self) -> Stored<storage::DYNAMIC>;
}

impl<T: ?Sized> ArgStorageUnknown for ArgProbe<T> {
    fn storage(&self) -> Stored<storage::DYNAMIC> {
        Stored(PhantomData)
    }
}
