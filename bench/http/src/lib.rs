//! Pieces shared by the HTTP benchmark's binaries (see `xtask/src/bench_http.rs`):
//!
//! - `upstream`: the profile and orders services the bff-aggregation example calls, with
//!   fixed JSON answers;
//! - `bff-handwritten`: the example's `GET /users/{id}/dashboard` written by hand in axum and
//!   reqwest, doing the same work as the engine (JWT check, two parallel calls, the transform,
//!   the VIP/regular rule) so the two can be compared;
//! - `load`: a closed-loop load generator with a latency histogram.

pub mod jwt;

/// The path prefix the engine serves the example under (its VMS name); the hand-written
/// server uses the same paths so both see identical requests.
pub const VMS_PREFIX: &str = "/bff-aggregation";

/// The issuer and audience the example's `triggers.yaml` requires.
pub const JWT_ISSUER: &str = "https://shop.example.com";
/// See [`JWT_ISSUER`].
pub const JWT_AUDIENCE: &str = "account-page";
