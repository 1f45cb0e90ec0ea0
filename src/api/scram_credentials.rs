//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): what
//! `kafka-configs.sh --entity-type users` reads and changes for SCRAM, with Kafka's semantics
//! (`ScramImage.describe`, `ScramControlManager.alterCredentials`): DESCRIBE or ALTER on the
//! cluster, per-user errors, and no user changed twice in one request. The request carries the
//! salted password; the broker keeps only the salt, stored key, server key and iterations.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use crate::api::{after_flush, str_bytes, Ctx, Outcome};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::scram::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::store::ScramCredential;

pub fn describe(
    ctx: &Ctx,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !ctx.authorize(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes("Cluster authorization failed.")));
    }
    let scram = ctx.broker.scram();
    // User -> named more than once.
    let mut users: BTreeMap<String, bool> = BTreeMap::new();
    match req.users.as_deref() {
        None | Some([]) => users.extend(scram.users().into_iter().map(|u| (u, false))),
        Some(named) => {
            for u in named {
                let twice = named.iter().filter(|n| n.name == u.name).count() > 1;
                users.insert(u.name.to_string(), twice);
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(user, duplicate)| {
            let result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(&user));
            if duplicate {
                return result
                    .with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    ))));
            }
            match scram.describe(&user) {
                Some(infos) => result.with_credential_infos(
                    infos
                        .into_iter()
                        .map(|(m, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(m.code())
                                .with_iterations(iterations)
                        })
                        .collect(),
                ),
                None => result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )))),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

type Error = (ResponseError, &'static str);

/// One user's accepted change.
enum Change {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, ScramCredential),
}

pub fn alter(ctx: &Ctx, req: AlterUserScramCredentialsRequest) -> Outcome {
    let result = |user: &str, error: Option<Error>| {
        let r = AlterUserScramCredentialsResult::default().with_user(str_bytes(user));
        match error {
            None => r,
            Some((e, message)) => r
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(message))),
        }
    };
    if !ctx.authorize(AclOperation::Alter, ResourceType::Cluster, CLUSTER_NAME) {
        let denied = Some((
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        ));
        let mut results: Vec<_> = req
            .deletions
            .iter()
            .map(|d| result(&d.name, denied))
            .collect();
        results.extend(req.upsertions.iter().map(|u| result(&u.name, denied)));
        return Outcome::now(AlterUserScramCredentialsResponse::default().with_results(results));
    }
    let scram = ctx.broker.scram();
    let twice = (
        ResponseError::DuplicateResource,
        "A user credential cannot be altered twice in the same request",
    );
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    let mut errors: BTreeMap<String, Error> = BTreeMap::new();
    for d in &req.deletions {
        let user = d.name.to_string();
        if errors.contains_key(&user) {
            continue;
        }
        if changes.remove(&user).is_some() {
            errors.insert(user, twice);
            continue;
        }
        match validate(&user, d.mechanism) {
            Err(e) => {
                errors.insert(user, e);
            }
            Ok(m) if scram.get(&user, m).is_none() => {
                errors.insert(
                    user,
                    (
                        ResponseError::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist",
                    ),
                );
            }
            Ok(m) => {
                changes.insert(user, Change::Delete(m));
            }
        }
    }
    for u in &req.upsertions {
        let user = u.name.to_string();
        if errors.contains_key(&user) {
            continue;
        }
        if changes.remove(&user).is_some() {
            errors.insert(user, twice);
            continue;
        }
        let checked = validate(&user, u.mechanism).and_then(|m| {
            if u.iterations < MIN_ITERATIONS {
                Err((ResponseError::UnacceptableCredential, "Too few iterations"))
            } else if u.iterations > MAX_ITERATIONS {
                Err((ResponseError::UnacceptableCredential, "Too many iterations"))
            } else if u.salt.is_empty() || u.salted_password.is_empty() {
                Err((
                    ResponseError::UnacceptableCredential,
                    "Salt and salted password must not be empty",
                ))
            } else {
                Ok(m)
            }
        });
        match checked {
            Err(e) => {
                errors.insert(user, e);
            }
            Ok(m) => {
                let c = m.credential(&u.salt, &u.salted_password, u.iterations);
                changes.insert(user, Change::Upsert(m, c));
            }
        }
    }
    let mut results = Vec::new();
    let mut failed = false;
    for (user, change) in changes {
        let written = match change {
            Change::Delete(m) => scram.set(&user, m, None),
            Change::Upsert(m, c) => scram.set(&user, m, Some(c)),
        };
        match written {
            Ok(()) => results.push(result(&user, None)),
            Err(e) => {
                tracing::error!(%user, error = %e, "storing a SCRAM credential failed");
                failed = true;
                results.push(result(
                    &user,
                    Some((
                        ResponseError::KafkaStorageError,
                        "storing the credential failed",
                    )),
                ));
            }
        }
    }
    results.extend(errors.into_iter().map(|(user, e)| result(&user, Some(e))));
    if failed {
        return Outcome::now(AlterUserScramCredentialsResponse::default().with_results(results));
    }
    after_flush(
        ctx.broker,
        AlterUserScramCredentialsResponse::default().with_results(results),
        |r| {
            for res in &mut r.results {
                if res.error_code == 0 {
                    res.error_code = ResponseError::KafkaStorageError.code();
                    res.error_message = Some(str_bytes("the credential may not be durable"));
                }
            }
        },
    )
}

fn validate(user: &str, mechanism: i8) -> Result<ScramMechanism, Error> {
    if user.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    ScramMechanism::from_code(mechanism).ok_or((
        ResponseError::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism",
    ))
}
