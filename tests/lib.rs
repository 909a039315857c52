//! End-to-end tests of uadpbench (see the `[[test]]` targets in Cargo.toml). They need root:
//! they create network namespaces and veth pairs, and remove them again.
