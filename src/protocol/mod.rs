//! The Kafka wire protocol at the edge: request parsing ([`request`]) checked against a version
//! table ([`versions`]), response encoding ([`response`]) and the zero-copy Fetch splice
//! ([`fetch_splice`]). Message bodies are the kafka-protocol crate's; what this layer adds is the
//! checking a broker must do before trusting a frame. It knows nothing of handlers or state: the
//! version table comes from the API layer, and a Fetch response arrives as a neutral [`FetchBody`].

pub mod fetch_splice;
pub mod request;
pub mod response;
pub mod versions;

pub use fetch_splice::{encode_fetch, FetchBody};
pub use request::{parse_frame, FrameError, Parsed, Request};
pub use response::{encode, encode_response, Frame, ResponseBody};
pub use versions::{
    api_version_table, supported_range, unsupported_api_versions_response, VersionTable,
};
