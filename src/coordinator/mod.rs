//! Coordinators: the state machines that clients drive through several requests over time: the
//! classic group protocol, transactions and fetch sessions; the KIP-848 consumer and share-group
//! coordinators join them here, and the partition side of share groups (`share`).

pub mod fetch_session;
pub mod group;
pub mod share;
pub mod txn;
