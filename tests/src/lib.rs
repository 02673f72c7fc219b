//! Helpers for the cluster tests live in the test files.
