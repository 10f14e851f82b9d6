//! A typed async client of the exsvc HTTP API (the API's reference is
//! docs/api.md of the exsvc repository; its machine-readable half is the
//! OpenAPI document the server serves at `/api-docs/openapi.json`).
//!
//! Every endpoint has a method on [`Client`] taking and returning the types
//! of [`types`], which are the shapes the server serializes: a test of this
//! crate derives a schema from each and compares it with the served
//! document. An error answer is [`Error::Api`], carrying the envelope's
//! status, [`ErrorCode`], message and details. A 429 or 503 that says
//! `Retry-After` is retried after that wait, unless it may have left a write
//! stored (bounded, and which ones: [`RetryPolicy`]), and the
//! token comes from a [`TokenSource`]: fixed, a file read anew when it changes,
//! or a callback that refreshes it before it expires.
//!
//! ```no_run
//! use exsvc_client::types::{AuthType, CredentialWrite, SecretObject, ServiceCreate, ServiceWrite};
//! use exsvc_client::{Client, ErrorCode, WriteOptions};
//!
//! # async fn demo() -> Result<(), exsvc_client::Error> {
//! let client = Client::builder("http://127.0.0.1:8080")
//!     .token(std::env::var("EXSVC_TOKEN").unwrap_or_default())
//!     .build()?;
//!
//! let stripe = client
//!     .create_service(
//!         &ServiceWrite::new("Stripe", "payment", "https://api.stripe.com/v1").into(),
//!         &WriteOptions::default(),
//!     )
//!     .await?;
//! let key: SecretObject = [("key".to_owned(), "sk_test_123".into())].into_iter().collect();
//! client
//!     .put_credential(
//!         stripe.id,
//!         &CredentialWrite { auth_type: AuthType::ApiKey, credentials: key, expires_at: None },
//!         &WriteOptions::idempotency_key("stripe-first-key"),
//!     )
//!     .await?;
//!
//! // The same name again: the API's error, typed.
//! let again = client
//!     .create_service(&ServiceCreate::from(ServiceWrite::new("stripe", "payment", "https://x.example")), &WriteOptions::default())
//!     .await;
//! assert_eq!(again.unwrap_err().code(), Some(&ErrorCode::ServiceAlreadyExists));
//!
//! // By name or id, as the command line takes it; the secret is revealed
//! // (and the read audited) only here.
//! let found = client.find_service("Stripe").await?;
//! let credential = client.get_credential(found.id, None).await?;
//! println!("{:?}", credential.credentials); // [REDACTED]
//! let _key = credential.credentials.field("key");
//! # Ok(()) }
//! ```
//!
//! A token that the Auth Manager issues anew, refreshed 30 s before it expires:
//!
//! ```no_run
//! use exsvc_client::token::{FreshToken, RefreshingToken};
//! use exsvc_client::Client;
//!
//! # // Stands in for a call to the Auth Manager's token endpoint.
//! # async fn ask_the_auth_manager() -> Result<(String, chrono::DateTime<chrono::Utc>), exsvc_client::Error> {
//! #     let token = std::env::var("EXSVC_TOKEN").map_err(|_| exsvc_client::Error::Token("no EXSVC_TOKEN".into()))?;
//! #     Ok((token, chrono::Utc::now() + chrono::Duration::hours(1)))
//! # }
//! # fn demo() -> Result<(), exsvc_client::Error> {
//! let client = Client::builder("https://exsvc.internal")
//!     .token_source(RefreshingToken::new(|| async {
//!         let (token, expires_at) = ask_the_auth_manager().await?;
//!         Ok(FreshToken { token: token.into(), expires_at })
//!     }))
//!     .build()?;
//! # let _ = client; Ok(()) }
//! ```
//!
//! Using a credential without seeing it (docs/api.md §10):
//!
//! ```no_run
//! # async fn demo(client: exsvc_client::Client, id: uuid::Uuid) -> Result<(), exsvc_client::Error> {
//! use exsvc_client::reqwest::{header::HeaderMap, Method};
//! let answer = client
//!     .proxy(Method::GET, id, "v1/charges?limit=3", HeaderMap::new(), None)
//!     .await?;
//! println!("{} {:?}", answer.status(), answer.bytes().await?);
//! let token = client.service_token(id).await?; // oauth2_client_credentials only
//! # let _ = token; Ok(()) }
//! ```

mod api;
mod client;
pub mod error;
pub mod request;
pub mod token;
pub mod types;

pub use api::ProxyResponse;
pub use client::{Answer, Client, ClientBuilder, RetryPolicy, DEFAULT_ADDR};
pub use error::{ApiError, Error, ErrorCode};
pub use token::{RefreshingToken, StaticToken, TokenFile, TokenSource};
pub use types::WriteOptions;

/// The HTTP types the client's signatures use (methods, headers).
pub use reqwest;

#[cfg(test)]
mod schema_tests;
