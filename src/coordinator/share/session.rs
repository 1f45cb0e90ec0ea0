//! Share sessions (KIP-932): the partitions a share-group member fetches, kept between ShareFetch
//! requests so later requests name only what changed, with an epoch that orders them.
//!
//! Keyed by group and member, as Kafka's ShareSessionCache is. Epoch 0 opens a session (replacing
//! the member's old one), -1 closes it, and any other epoch must be the session's next one. At
//! most `max_sessions` exist at once (Kafka's `group.share.max.share.sessions`); a new one past
//! that is refused with SHARE_SESSION_LIMIT_REACHED.

use std::collections::HashMap;
use std::net::SocketAddr;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A partition of a share session: topic id and partition index.
pub type SessionPartition = (Uuid, i32);

/// The epoch that opens a session, and the one that closes it.
pub const INITIAL_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    epoch: i32,
    /// In the order they were added, as Kafka answers them.
    partitions: Vec<SessionPartition>,
    /// The connection that opened it: when it closes, the session ends (as in Kafka).
    conn: SocketAddr,
}

#[derive(Debug)]
pub struct ShareSessions {
    sessions: HashMap<(String, String), Session>,
    max_sessions: usize,
}

/// What a ShareFetch reads under its session.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// A new session: every partition is answered.
    Full(Vec<SessionPartition>),
    /// A later request of a session: only partitions with something to say are answered.
    Incremental(Vec<SessionPartition>),
    /// The session ended: acknowledgements only, nothing is fetched.
    Final,
}

impl ShareSessions {
    pub fn new(max_sessions: usize) -> ShareSessions {
        ShareSessions {
            sessions: HashMap::new(),
            max_sessions,
        }
    }

    /// Starts a ShareFetch of `member`: opens, continues or closes its session as `epoch` says.
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        &mut self,
        conn: SocketAddr,
        group: &str,
        member: &str,
        epoch: i32,
        add: Vec<SessionPartition>,
        forget: &[SessionPartition],
        has_acknowledgements: bool,
    ) -> Result<Plan, i16> {
        let key = (group.to_string(), member.to_string());
        match epoch {
            INITIAL_EPOCH => {
                // Nothing can have been acquired under a session that does not exist yet.
                if has_acknowledgements {
                    return Err(ResponseError::InvalidRequest.code());
                }
                if !self.sessions.contains_key(&key) && self.sessions.len() >= self.max_sessions {
                    return Err(ResponseError::ShareSessionLimitReached.code());
                }
                let mut partitions = Vec::new();
                for p in add {
                    if !partitions.contains(&p) {
                        partitions.push(p);
                    }
                }
                self.sessions.insert(
                    key,
                    Session {
                        epoch: 1,
                        partitions: partitions.clone(),
                        conn,
                    },
                );
                Ok(Plan::Full(partitions))
            }
            // As in Kafka, only a session that exists can be closed.
            FINAL_EPOCH => {
                self.sessions
                    .remove(&key)
                    .ok_or(ResponseError::ShareSessionNotFound.code())?;
                Ok(Plan::Final)
            }
            _ => {
                let session = self.next(&key, epoch)?;
                session.partitions.retain(|p| !forget.contains(p));
                for p in add {
                    if !session.partitions.contains(&p) {
                        session.partitions.push(p);
                    }
                }
                Ok(Plan::Incremental(session.partitions.clone()))
            }
        }
    }

    /// Checks a ShareAcknowledge's epoch: a session must exist for any but the final epoch, and
    /// 0 is never valid (acknowledgements need something acquired under a session). The final
    /// epoch closes the session; whether one existed is returned.
    pub fn acknowledge(&mut self, group: &str, member: &str, epoch: i32) -> Result<(), i16> {
        let key = (group.to_string(), member.to_string());
        match epoch {
            INITIAL_EPOCH => Err(ResponseError::InvalidShareSessionEpoch.code()),
            FINAL_EPOCH => {
                self.sessions
                    .remove(&key)
                    .ok_or(ResponseError::ShareSessionNotFound.code())?;
                Ok(())
            }
            _ => self.next(&key, epoch).map(|_| ()),
        }
    }

    fn next(&mut self, key: &(String, String), epoch: i32) -> Result<&mut Session, i16> {
        let session = self
            .sessions
            .get_mut(key)
            .ok_or(ResponseError::ShareSessionNotFound.code())?;
        if session.epoch != epoch {
            return Err(ResponseError::InvalidShareSessionEpoch.code());
        }
        session.epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        Ok(session)
    }

    /// Ends the sessions a closed connection opened; returns their (group, member).
    pub fn connection_closed(&mut self, conn: SocketAddr) -> Vec<(String, String)> {
        let keys: Vec<(String, String)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.conn == conn)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            self.sessions.remove(k);
        }
        keys
    }

    /// Drops a member's session (it left the group).
    pub fn remove(&mut self, group: &str, member: &str) {
        self.sessions
            .remove(&(group.to_string(), member.to_string()));
    }

    /// Drops every session of a group (it was deleted).
    pub fn remove_group(&mut self, group: &str) {
        self.sessions.retain(|(g, _), _| g != group);
    }

    /// Whether any member of the group has a session.
    pub fn has_group(&self, group: &str) -> bool {
        self.sessions.keys().any(|(g, _)| g == group)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);

    #[test]
    fn a_closed_connection_ends_the_sessions_it_opened() {
        let mut s = ShareSessions::new(10);
        let other = SocketAddr::from(([127, 0, 0, 1], 2));
        s.fetch(CONN, "g", "a", 0, vec![], &[], false).unwrap();
        s.fetch(other, "g", "b", 0, vec![], &[], false).unwrap();
        assert_eq!(
            s.connection_closed(CONN),
            vec![("g".to_string(), "a".to_string())]
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn epochs_open_continue_and_close_a_session() {
        let mut s = ShareSessions::new(1);
        let (a, b) = ((Uuid::nil(), 0), (Uuid::nil(), 1));
        assert_eq!(
            s.fetch(CONN, "g", "m", 0, vec![a, a], &[], false),
            Ok(Plan::Full(vec![a]))
        );
        assert_eq!(
            s.fetch(CONN, "g", "m", 1, vec![b], &[a], true),
            Ok(Plan::Incremental(vec![b]))
        );
        assert_eq!(
            s.fetch(CONN, "g", "m", 1, vec![], &[], false),
            Err(ResponseError::InvalidShareSessionEpoch.code())
        );
        s.acknowledge("g", "m", 2).unwrap();
        assert_eq!(
            s.acknowledge("g", "m", 0),
            Err(ResponseError::InvalidShareSessionEpoch.code())
        );
        assert_eq!(
            s.fetch(CONN, "g", "x", 0, vec![], &[], false),
            Err(ResponseError::ShareSessionLimitReached.code())
        );
        assert_eq!(
            s.fetch(CONN, "g", "x", 3, vec![], &[], false),
            Err(ResponseError::ShareSessionNotFound.code())
        );
        assert_eq!(
            s.fetch(CONN, "g", "m", 0, vec![], &[], true),
            Err(ResponseError::InvalidRequest.code())
        );
        assert_eq!(
            s.fetch(CONN, "g", "m", -1, vec![], &[], true),
            Ok(Plan::Final)
        );
        assert!(s.is_empty());
        assert_eq!(
            s.fetch(CONN, "g", "m", -1, vec![], &[], false),
            Err(ResponseError::ShareSessionNotFound.code())
        );
        assert_eq!(
            s.acknowledge("g", "m", -1),
            Err(ResponseError::ShareSessionNotFound.code())
        );
    }
}
