//! SaslHandshake and SaslAuthenticate as the request handlers see them: on a SASL listener the
//! connection's authenticator (`net::sasl`) answers them until the client is authenticated, and a
//! re-authentication's handshake too; what reaches these handlers is a SASL request on a listener
//! without SASL, or a SaslAuthenticate after authentication. Both answer ILLEGAL_SASL_STATE, as
//! Kafka's `KafkaApis` does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use crate::api::{str_bytes, Ctx};

pub fn handshake(_ctx: &Ctx, _req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}

pub fn authenticate(_ctx: &Ctx, _req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(str_bytes(
            "SaslAuthenticate request received after successful authentication",
        )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;

    #[test]
    fn outside_the_authenticator_both_answer_illegal_sasl_state() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let ctx = Ctx::test(&b, 1);
        let code = ResponseError::IllegalSaslState.code();
        assert_eq!(
            handshake(&ctx, SaslHandshakeRequest::default()).error_code,
            code
        );
        assert_eq!(
            authenticate(&ctx, SaslAuthenticateRequest::default()).error_code,
            code
        );
    }
}
