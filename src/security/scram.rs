//! SCRAM (RFC 5802, RFC 7677) as Kafka uses it: the two mechanisms, the derivation of stored and
//! server keys from a salted password, and the broker's credentials by user and mechanism, kept
//! in memory and written through to the store.

use std::collections::BTreeMap;
use std::sync::RwLock;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use crate::store::{ScramCredential, Store, StoreError};

/// Kafka's bounds on a credential's iteration count (`ScramMechanism.minIterations`, and the
/// maximum AlterUserScramCredentials accepts).
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The mechanism's code in the Describe/AlterUserScramCredentials APIs.
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.code() == code)
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length: new_from_slice cannot fail for it.
        match self {
            ScramMechanism::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// RFC 5802's `Hi(password, salt, i)`: PBKDF2 with this mechanism's HMAC. Kafka does not
    /// SASLprep the password; neither do we, so the same passwords work on both.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }

    /// The stored credential for a salted password (what AlterUserScramCredentials carries).
    pub fn credential(
        self,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = self.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: self.hash(&client_key),
            server_key: self.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// A new credential for a password, with a random salt.
    pub fn credential_for_password(
        self,
        password: &str,
        iterations: i32,
    ) -> Result<ScramCredential, getrandom::Error> {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt)?;
        let salted = self.salted_password(
            password.as_bytes(),
            &salt,
            u32::try_from(iterations).unwrap_or(MIN_ITERATIONS as u32),
        );
        Ok(self.credential(&salt, &salted, iterations))
    }
}

/// The broker's SCRAM credentials, read by every SCRAM login and changed by
/// AlterUserScramCredentials.
pub struct ScramCredentials {
    store: Store,
    by_user: RwLock<BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>>,
}

impl ScramCredentials {
    /// Loads the stored credentials, then gives each of `seed`'s users that has none a credential
    /// for both mechanisms at the minimum iteration count (as `kafka-storage format --add-scram`).
    pub fn open(store: Store, seed: &BTreeMap<String, String>) -> anyhow::Result<ScramCredentials> {
        let mut by_user: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>> =
            BTreeMap::new();
        for (user, mechanism, credential) in store.load_scram_credentials()? {
            match ScramMechanism::from_name(&mechanism) {
                Some(m) => {
                    by_user.entry(user).or_default().insert(m, credential);
                }
                None => {
                    tracing::error!(%user, %mechanism, "skipping a stored SCRAM credential of an unknown mechanism")
                }
            }
        }
        for (user, password) in seed {
            if by_user.contains_key(user) {
                continue;
            }
            let mut creds = BTreeMap::new();
            for m in ScramMechanism::ALL {
                let c = m.credential_for_password(password, MIN_ITERATIONS)?;
                store.put_scram_credential(user, m.name(), Some(&c))?;
                creds.insert(m, c);
            }
            by_user.insert(user.clone(), creds);
        }
        Ok(ScramCredentials {
            store,
            by_user: RwLock::new(by_user),
        })
    }

    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        let by_user = self.by_user.read().expect("SCRAM credentials poisoned");
        by_user.get(user)?.get(&mechanism).cloned()
    }

    /// A user's mechanisms with their iteration counts; `None` for a user with none.
    pub fn describe(&self, user: &str) -> Option<Vec<(ScramMechanism, i32)>> {
        let by_user = self.by_user.read().expect("SCRAM credentials poisoned");
        let creds = by_user.get(user)?;
        Some(creds.iter().map(|(m, c)| (*m, c.iterations)).collect())
    }

    /// Every user that has a credential, sorted.
    pub fn users(&self) -> Vec<String> {
        let by_user = self.by_user.read().expect("SCRAM credentials poisoned");
        by_user.keys().cloned().collect()
    }

    /// Sets (`Some`) or removes (`None`) one credential, in the store and then here.
    pub fn set(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        credential: Option<ScramCredential>,
    ) -> Result<(), StoreError> {
        let mut by_user = self.by_user.write().expect("SCRAM credentials poisoned");
        self.store
            .put_scram_credential(user, mechanism.name(), credential.as_ref())?;
        match credential {
            Some(c) => {
                by_user
                    .entry(user.to_string())
                    .or_default()
                    .insert(mechanism, c);
            }
            None => {
                if let Some(creds) = by_user.get_mut(user) {
                    creds.remove(&mechanism);
                    if creds.is_empty() {
                        by_user.remove(user);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_rfc_7677s_example() {
        // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let m = ScramMechanism::Sha256;
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let c = m.credential(&salt, &salted, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        assert_eq!(
            b64.encode(m.hmac(&c.server_key, auth.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn seeded_users_keep_stored_credentials_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let seed: BTreeMap<String, String> = [("alice".to_string(), "pw".to_string())].into();
        let first = {
            let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
            let creds = ScramCredentials::open(store.clone(), &seed).unwrap();
            assert_eq!(
                creds.describe("alice").unwrap(),
                vec![
                    (ScramMechanism::Sha256, MIN_ITERATIONS),
                    (ScramMechanism::Sha512, MIN_ITERATIONS)
                ]
            );
            let c = creds.get("alice", ScramMechanism::Sha512).unwrap();
            store.close().unwrap();
            c
        };
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let creds = ScramCredentials::open(store, &seed).unwrap();
        assert_eq!(creds.get("alice", ScramMechanism::Sha512).unwrap(), first);
        creds.set("alice", ScramMechanism::Sha512, None).unwrap();
        creds.set("alice", ScramMechanism::Sha256, None).unwrap();
        assert_eq!(creds.describe("alice"), None);
        assert!(creds.users().is_empty());
    }
}
