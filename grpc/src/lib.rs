//! The gRPC API (`custos.v1`): services, authentication, the one authorisation and audit layer,
//! TLS. Built by the gRPC issue.
