//! Coordinators: the state machines that clients drive through several requests over time: the
//! classic group protocol and KIP-848 consumer groups (`group`), transactions and fetch sessions;
//! share groups (KIP-932): `share_group` (membership and assignment) and `share` (the partition
//! side: delivery state, ShareFetch and ShareAcknowledge).

pub mod fetch_session;
pub mod group;
pub mod share;
pub mod share_group;
pub mod txn;
