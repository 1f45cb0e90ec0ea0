//! Coordinators: the state machines that clients drive through several requests over time: the
//! classic group protocol, transactions and fetch sessions; the KIP-848 consumer and share-group
//! coordinators join them here: `share_group` (KIP-932 share-group membership) and `share` (the
//! partition side of share groups: delivery state, ShareFetch and ShareAcknowledge).

pub mod fetch_session;
pub mod group;
pub mod share;
pub mod share_group;
pub mod txn;
