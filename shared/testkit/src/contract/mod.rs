//! Contract suites: the behaviour every backend of a port must show.

pub mod cipher;
pub mod objects;
pub mod queue;
pub mod secrets;
pub mod store;
