//! Putting a backup set into a PostgreSQL database, for every tool that does it (the drill
//! into a scratch database, backup-restore into the real one):
//!
//! - [`restore`]: pg_restore (streamed, or `--jobs` from a patched temporary file) and
//!   psql for plain-format and globals sets, supervised and stoppable.
//! - [`fetch`]: a set (and the globals) unsealed from a bucket into a scratch catalog.
//! - [`proof`]: what a restore is checked against: every manifest table with exactly its
//!   rows, the large objects, the operator's SQL checks, the live source.

pub mod fetch;
pub mod proof;
pub mod restore;
