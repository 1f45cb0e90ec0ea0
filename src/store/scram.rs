//! SCRAM credentials (Kafka's `ScramCredential`, kept in its metadata log as
//! `UserScramCredentialRecord`): per user and mechanism the salt, stored key, server key and
//! iteration count. Never the password: what is stored cannot log anyone in without the proof
//! exchange.

use serde::{Deserialize, Serialize};

use super::metadata::skipped;
use super::{Store, StoreError};

/// One user's credential for one SCRAM mechanism, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// The key of a credential: the mechanism's name, a NUL (never in a mechanism name), the user.
fn key(user: &str, mechanism: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(mechanism.len() + 1 + user.len());
    k.extend_from_slice(mechanism.as_bytes());
    k.push(0);
    k.extend_from_slice(user.as_bytes());
    k
}

impl Store {
    /// Every stored credential as (user, mechanism name, credential). One that does not decode is
    /// skipped and logged: its user cannot log in with that mechanism until it is set again.
    pub fn load_scram_credentials(
        &self,
    ) -> Result<Vec<(String, String, ScramCredential)>, StoreError> {
        let mut out = Vec::new();
        for item in self.scram_tree()?.iter() {
            let (k, v) = item?;
            let Some(split) = k.iter().position(|&b| b == 0) else {
                skipped("a SCRAM credential", &k, "no mechanism in the key");
                continue;
            };
            let (Ok(mechanism), Ok(user)) = (
                std::str::from_utf8(&k[..split]),
                std::str::from_utf8(&k[split + 1..]),
            ) else {
                skipped("a SCRAM credential", &k, "the key is not UTF-8");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(c) => out.push((user.to_string(), mechanism.to_string(), c)),
                Err(e) => skipped("a SCRAM credential", &k, e),
            }
        }
        Ok(out)
    }

    /// Stores (`Some`) or removes (`None`) one user's credential for one mechanism. Durable after
    /// the next flush, as other metadata.
    pub fn put_scram_credential(
        &self,
        user: &str,
        mechanism: &str,
        credential: Option<&ScramCredential>,
    ) -> Result<(), StoreError> {
        let tree = self.scram_tree()?;
        let k = key(user, mechanism);
        match credential {
            Some(c) => {
                let v = serde_json::to_vec(c)
                    .map_err(|e| StoreError::encode("a SCRAM credential", e))?;
                tree.insert(k, v)?;
            }
            None => {
                tree.remove(k)?;
            }
        }
        Ok(())
    }

    fn scram_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("scram_credentials")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let c = ScramCredential {
            salt: vec![1, 2],
            stored_key: vec![3],
            server_key: vec![4],
            iterations: 4096,
        };
        store
            .put_scram_credential("a\0b", "SCRAM-SHA-256", Some(&c))
            .unwrap();
        store
            .put_scram_credential("alice", "SCRAM-SHA-512", Some(&c))
            .unwrap();
        let mut all = store.load_scram_credentials().unwrap();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            all,
            vec![
                ("a\0b".to_string(), "SCRAM-SHA-256".to_string(), c.clone()),
                ("alice".to_string(), "SCRAM-SHA-512".to_string(), c.clone()),
            ]
        );
        store
            .put_scram_credential("alice", "SCRAM-SHA-512", None)
            .unwrap();
        assert_eq!(store.load_scram_credentials().unwrap().len(), 1);
    }
}
