#![no_std]
// Empty library target: lets `anchor-user` name this crate as a build-dependency (see aya-build).
