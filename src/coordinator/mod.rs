//! Coordinators: the state machines that clients drive through several requests over time. Today the
//! classic group protocol and fetch sessions; the transaction, KIP-848 consumer and share-group
//! coordinators join them here.

pub mod fetch_session;
pub mod group;
pub mod txn;
