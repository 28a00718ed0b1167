//! Wire constants shared by the replica, the recording proxy and the drivers, in a leaf
//! module so none of them imports another for them (the python driver,
//! `drivers/python/driver.py`, repeats the scope header's name).

/// Requests carrying this header are journaled and fault-counted under its value, so
/// concurrent cells sharing one replica stay isolated.
pub const SCOPE_HEADER: &str = "x-hh-compat-scope";

/// Request bodies above this size get a 413, unread beyond it.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
