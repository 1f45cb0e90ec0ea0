//! ACL bindings (CreateAcls / DeleteAcls), kept in the tree `acls`: each binding is its own key
//! (JSON [`AclRecord`]), with an empty value, so a binding is stored at most once, as Kafka keeps
//! at most one copy of an identical ACL. A request's additions and removals go in one sled batch:
//! after a crash the tree holds the request's changes entirely or not at all.

use serde::{Deserialize, Serialize};

use super::metadata::skipped;
use super::{Store, StoreError};

/// One ACL as persisted, with the wire's codes (`security::acl` owns their meaning). The field
/// order is the key's encoding: never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclRecord {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

impl Store {
    /// Every stored ACL; a key that does not decode is logged and skipped, not a reason to refuse
    /// to start.
    pub fn load_acls(&self) -> Result<Vec<AclRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.acls_tree()?.iter() {
            let (k, _) = item?;
            match serde_json::from_slice(&k) {
                Ok(record) => out.push(record),
                Err(e) => skipped("an ACL", &k, e),
            }
        }
        Ok(out)
    }

    /// Adds and removes bindings atomically (durable after the next flush, as other metadata).
    pub fn change_acls(
        &self,
        added: &[AclRecord],
        removed: &[AclRecord],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for record in removed {
            batch.remove(encode(record)?);
        }
        for record in added {
            batch.insert(encode(record)?, &[] as &[u8]);
        }
        self.acls_tree()?.apply_batch(batch)?;
        Ok(())
    }

    fn acls_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("acls")?)
    }
}

fn encode(record: &AclRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::encode("an ACL", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> AclRecord {
        AclRecord {
            resource_type: 2,
            resource_name: name.to_string(),
            pattern_type: 3,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: 3,
            permission: 3,
        }
    }

    #[test]
    fn adds_removes_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
            store
                .change_acls(&[record("a"), record("b"), record("a")], &[])
                .unwrap();
            store.change_acls(&[record("c")], &[record("a")]).unwrap();
            store.close().unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let mut names: Vec<String> = store
            .load_acls()
            .unwrap()
            .into_iter()
            .map(|r| r.resource_name)
            .collect();
        names.sort();
        assert_eq!(names, ["b", "c"]);
        // A key written by something else is skipped, not fatal.
        store
            .acls_tree()
            .unwrap()
            .insert(b"not json", &[] as &[u8])
            .unwrap();
        assert_eq!(store.load_acls().unwrap().len(), 2);
    }
}
