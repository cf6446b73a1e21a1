//! pgops off-site: where sets lie outside the backup host, and how they get there and back.
//!
//! - [`backend`]: where bytes lie: a local directory or an S3-compatible bucket, behind one
//!   small synchronous trait; [`backend::open_location`] is the only place that tells a
//!   bucket from a directory.
//! - [`keys`]: the age half of the keys (recipients that copies are encrypted to, the
//!   identities that open them).
//! - [`sealed`]: sets as they lie off-site: age-encrypted objects and a signed envelope,
//!   sealed from a local set and unsealed back into one.
//! - [`sets`]: [`sets::open`], a catalog by its location: the sealed implementation of
//!   `ops_catalog::sets::Sets`, or the local one.
//! - [`proofs`]: signed proofs of verifications, drills and restores kept in the bucket
//!   beside the sets.
//! - [`fetch`]: the set a restore or a drill takes from a sealed catalog.
//! - [`versions`]: what a versioned bucket held at a point in time, and the plan that
//!   brings it back after an intruder hid or overwrote objects.
//! - [`cli`]: the flags of tools that read or write sealed catalogs.
//!
//! Only the tools that touch a bucket depend on this crate: pgdump-run, port-audit and
//! ops-notify compile no object store, async runtime, TLS stack or age.

pub mod backend;
pub mod cli;
pub mod fetch;
pub mod keys;
pub mod proofs;
pub mod sealed;
pub mod sets;
pub mod versions;
