//! `bounded` with its default features, as a user's build depends on it. The tests are
//! in `tests/`; this library only gives the package a target.
