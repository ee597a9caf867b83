//! Teaching lessons for evenkeel, one per pattern.
//!
//! Each lesson runs the naive version of a pattern beside the evenkeel
//! crate's version and shows where the naive one fails: lost work on
//! shutdown, unbounded memory under load, retry stampedes, leaked tasks.
//! Lessons arrive with the crates they teach.
