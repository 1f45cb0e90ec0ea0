//! Coordinators: the state machines that clients drive through several requests over time. Today the
//! classic group protocol; the transaction, KIP-848 consumer and share-group coordinators join it here.

pub mod group;
