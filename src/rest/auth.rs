//! Authentication with a TokenReview and authorization with a SubjectAccessReview, so that the
//! same RBAC governs kubectl and REST (docs/rest.md). Answers are cached for a few seconds, so a
//! busy client costs the API server two reviews per token and permission per interval.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::error::ApiError;

/// How long a review's answer is reused.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries kept before the cache is emptied (a crude bound against unbounded growth).
const CACHE_MAX: usize = 10_000;

/// `--auth`: `kube` (TokenReview + SubjectAccessReview) or `none` (local development only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    Kube,
    None,
}

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
}

pub struct Authenticator {
    client: kube::Client,
    mode: AuthMode,
    tokens: Mutex<HashMap<String, (Option<Caller>, Instant)>>,
    decisions: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Authenticator {
    pub fn new(client: kube::Client, mode: AuthMode) -> Self {
        Self {
            client,
            mode,
            tokens: Mutex::default(),
            decisions: Mutex::default(),
        }
    }

    /// The caller of a request, or 401.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.mode == AuthMode::None {
            return Ok(Caller {
                username: "anonymous".to_string(),
                uid: None,
                groups: Vec::new(),
            });
        }
        let token = bearer_token(headers).ok_or(ApiError::Unauthenticated)?;
        if let Some(caller) = cached(&self.tokens, token) {
            return caller.ok_or(ApiError::Unauthenticated);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ApiError::Internal(format!("TokenReview: {e}")))?;
        let status = answer.status.unwrap_or_default();
        let caller = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => Some(Caller {
                username: user.username.unwrap_or_default(),
                uid: user.uid,
                groups: user.groups.unwrap_or_default(),
            }),
            _ => None,
        };
        store(&self.tokens, token.to_string(), caller.clone());
        caller.ok_or(ApiError::Unauthenticated)
    }

    /// Ok when `caller` may `verb` the `resource` (of punctual.dev) in `namespace`, else 403.
    pub async fn authorize(
        &self,
        caller: &Caller,
        verb: &str,
        resource: &str,
        namespace: &str,
    ) -> Result<(), ApiError> {
        if self.mode == AuthMode::None {
            return Ok(());
        }
        let key = decision_key(caller, verb, resource, namespace);
        let allowed = match cached(&self.decisions, &key) {
            Some(a) => a,
            None => {
                let review = SubjectAccessReview {
                    spec: SubjectAccessReviewSpec {
                        user: Some(caller.username.clone()),
                        uid: caller.uid.clone(),
                        groups: Some(caller.groups.clone()),
                        resource_attributes: Some(ResourceAttributes {
                            group: Some(crate::resources::GROUP.to_string()),
                            resource: Some(resource.to_string()),
                            verb: Some(verb.to_string()),
                            namespace: Some(namespace.to_string()),
                            ..ResourceAttributes::default()
                        }),
                        ..SubjectAccessReviewSpec::default()
                    },
                    ..SubjectAccessReview::default()
                };
                let answer = Api::<SubjectAccessReview>::all(self.client.clone())
                    .create(&PostParams::default(), &review)
                    .await
                    .map_err(|e| ApiError::Internal(format!("SubjectAccessReview: {e}")))?;
                let allowed = answer.status.is_some_and(|s| s.allowed);
                store(&self.decisions, key, allowed);
                allowed
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                required_permission: format!("{verb} {resource}.{}", crate::resources::GROUP),
            })
        }
    }
}

/// The cache key of an authorization decision: who asked to do what where.
fn decision_key(caller: &Caller, verb: &str, resource: &str, namespace: &str) -> String {
    format!(
        "{}\u{0}{}\u{0}{verb}\u{0}{resource}\u{0}{namespace}",
        caller.username,
        caller.groups.join(",")
    )
}

/// Answers put in the caches up front, so that the router tests run the `kube` mode without an
/// API server (`src/rest/tests.rs`).
#[cfg(test)]
impl Authenticator {
    pub(crate) fn remember_token(&self, token: &str, caller: Option<Caller>) {
        store(&self.tokens, token.to_string(), caller);
    }

    pub(crate) fn remember_decision(
        &self,
        caller: &Caller,
        verb: &str,
        resource: &str,
        namespace: &str,
        allowed: bool,
    ) {
        store(
            &self.decisions,
            decision_key(caller, verb, resource, namespace),
            allowed,
        );
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A fresh cached answer: Some(Some(v)) positive, Some(None) negative, None unknown or stale.
fn cached<V: Clone>(cache: &Mutex<HashMap<String, (V, Instant)>>, key: &str) -> Option<V> {
    let cache = cache.lock().ok()?;
    let (value, at) = cache.get(key)?;
    (at.elapsed() < CACHE_TTL).then(|| value.clone())
}

fn store<V>(cache: &Mutex<HashMap<String, (V, Instant)>>, key: String, value: V) {
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (value, Instant::now()));
    }
}

/// `--auth=none` is only safe where nobody else can connect.
pub fn check_mode(mode: AuthMode, addr: std::net::SocketAddr) -> Result<(), String> {
    if mode == AuthMode::None && !addr.ip().is_loopback() {
        return Err(format!(
            "--auth=none is only allowed on a loopback address, not {addr}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", "bearer  ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn auth_none_only_on_loopback() {
        assert!(check_mode(AuthMode::None, "127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(check_mode(AuthMode::None, "[::1]:8080".parse().unwrap()).is_ok());
        assert!(check_mode(AuthMode::None, "0.0.0.0:8080".parse().unwrap()).is_err());
        assert!(check_mode(AuthMode::Kube, "0.0.0.0:8080".parse().unwrap()).is_ok());
    }

    #[test]
    fn cache_entries_expire() {
        let cache = Mutex::new(HashMap::new());
        store(&cache, "k".into(), Some(true));
        assert_eq!(cached(&cache, "k"), Some(Some(true)));
        cache.lock().unwrap().insert(
            "old".into(),
            (
                Some(true),
                Instant::now() - CACHE_TTL - Duration::from_secs(1),
            ),
        );
        assert_eq!(cached(&cache, "old"), None);
    }
}
