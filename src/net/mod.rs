//! The network layer: the accept loop with its limits, and one task pair per connection that frames
//! requests, hands them to the API layer and writes the responses back in request order; the
//! limits they share bound what clients can make the broker hold.

pub mod connection;
pub mod limits;
pub mod sasl;
pub mod server;
pub mod tls;
