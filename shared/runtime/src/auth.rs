//! Bearer-token authentication: RS256/ES256 JWTs verified against the identity
//! provider's JWKS (cached), or — on the embedded backend, or on AWS only when opted in
//! for a non-production stage — against the development key that `switchboard token`
//! signs with.
//!
//! The org and role come from configurable claims (dotted paths), so Clerk
//! (`o.id`/`o.rol` or `org_id`/`org_role`), Supabase (`app_metadata.org_id`) and Cognito
//! (`custom:org_id`) tokens all work. Nothing else in Switchboard decides the org: every
//! handler takes it from the [`Caller`] this module returns.
//!
//! The JWKS cache is built for an identity provider that is sometimes down or slow:
//! keys are refreshed every [`JWKS_TTL`], but when a refresh fails the last good keys
//! keep verifying for up to `AUTH_JWKS_MAX_STALE_SECS` more, so an outage of the provider
//! does not log every user out. Fetches are single-flight (concurrent misses share one
//! request) and at most one starts per [`JWKS_RETRY_WINDOW`], so neither a failing
//! provider nor a flood of tokens with made-up key ids turns requests into fetches.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::Value;
use switchboard_core::clock::{Clock, SystemClock, fmt_time};
use switchboard_core::ids::{OrgId, Role};

use crate::config::{AuthConfig, ConfigError};

/// The token of an `Authorization: Bearer <token>` header (a JWT or an API key).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?.trim();
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(AuthError::Invalid(
            "expected `Authorization: Bearer <token>`",
        )),
    }
}

/// Who is calling: from a verified token, never from the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The org every query is scoped by.
    pub org: OrgId,
    /// What the caller may do.
    pub role: Role,
    /// The token's subject (user id), for audit logs.
    pub user: Option<String>,
    /// The caller's name, from the configured name claim (the user directory shows it).
    pub name: Option<String>,
    /// The caller's e-mail address, from the configured e-mail claim.
    pub email: Option<String>,
}

impl Caller {
    /// Checks that the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), switchboard_core::Error> {
        if self.role >= role {
            Ok(())
        } else {
            Err(switchboard_core::Error::Forbidden {
                message: format!(
                    "this action needs the {role} role or higher; the caller is {}",
                    self.role
                ),
            })
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("missing bearer token")]
    Missing,
    /// Not a JWT, or a JWT that fails verification.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// A valid token that names no org or an unknown role (403, not 401).
    #[error("{0}")]
    NotAMember(String),
    /// The identity provider's keys could not be fetched (503).
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

/// SHA-256 (hex) of the public key of `events/test-signing-key.pk8`, the test key
/// committed to the repository (the sample events are signed with it). Anyone can read
/// it, so a process that holds real data refuses it however it is configured.
pub const COMMITTED_TEST_KEY_FINGERPRINT: &str =
    "85ab7042be29b2c1ca0449198ac69007f6d86e05d52378b3128157d94d13f753";

/// The development signing key (ES256), kept in the data dir with mode 0600.
pub struct DevKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    fingerprint: String,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevKey(kid={})", self.kid)
    }
}

impl DevKey {
    /// Loads the key file, creating it if absent.
    pub fn open_or_create(path: &Path) -> std::io::Result<Self> {
        let pkcs8 = switchboard_core::files::read_or_create_private(path, || {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|_| std::io::Error::other("could not generate a key"))
        })?;
        Self::from_pkcs8(&pkcs8)
    }

    /// Builds the key from PKCS#8 DER.
    pub fn from_pkcs8(pkcs8: &[u8]) -> std::io::Result<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| std::io::Error::other("the dev signing key file is not a P-256 PKCS#8 key"))?;
        let public = pair.public_key().as_ref();
        // Uncompressed point: 0x04 || X (32) || Y (32).
        if public.len() != 65 {
            return Err(std::io::Error::other("unexpected public key length"));
        }
        let x = URL_SAFE_NO_PAD.encode(&public[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&public[33..65]);
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(std::io::Error::other)?;
        let fingerprint = switchboard_webhooks::sha256_hex(&[public]);
        Ok(Self {
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding,
            kid: format!("dev-{}", &fingerprint[..16]),
            fingerprint,
        })
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// SHA-256 (hex) of the public key: identifies the key without revealing it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether this is the test key committed to the repository.
    pub fn is_committed_test_key(&self) -> bool {
        self.fingerprint == COMMITTED_TEST_KEY_FINGERPRINT
    }

    /// Signs claims.
    pub fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        crate::jwt_crypto::install();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding)
    }
}

/// Loads the dev key `cfg` trusts — the inline `SWITCHBOARD_DEV_KEY` first, else the
/// file (created if absent) — or `None` when it trusts none. Both the authenticator and
/// `switchboard token` load it here, so the CLI can only sign with a key the server
/// would trust. Every failure names the variable, and where `cfg.refuse_test_key` is set
/// (the AWS backend) the committed test key is refused.
pub fn load_dev_key(cfg: &AuthConfig) -> Result<Option<DevKey>, ConfigError> {
    let (var, key) = match (&cfg.dev_key_base64, &cfg.dev_key_file) {
        (Some(b64), _) => {
            let var = "SWITCHBOARD_DEV_KEY";
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| ConfigError::Invalid {
                    var,
                    reason: "must be a base64 PKCS#8 key".into(),
                })?;
            let key = DevKey::from_pkcs8(&der).map_err(|e| ConfigError::Invalid {
                var,
                reason: e.to_string(),
            })?;
            (var, key)
        }
        (None, Some(path)) => {
            let var = "SWITCHBOARD_DEV_KEY_FILE";
            let key = DevKey::open_or_create(path).map_err(|e| ConfigError::Invalid {
                var,
                reason: format!("{}: {e}", path.display()),
            })?;
            (var, key)
        }
        (None, None) => return Ok(None),
    };
    if cfg.refuse_test_key && key.is_committed_test_key() {
        return Err(ConfigError::Invalid {
            var,
            reason: format!(
                "is the test key committed to the repository (events/test-signing-key.pk8, \
                 fingerprint {}…): anyone can sign tokens for any org with it, so the AWS \
                 backend never trusts it; use a key of your own (`switchboard token` creates \
                 one in the data dir)",
                &COMMITTED_TEST_KEY_FINGERPRINT[..16]
            ),
        });
    }
    Ok(Some(key))
}

/// Builds the claims of a development token for `org`/`role`, placing them at the
/// configured claim paths.
pub fn dev_claims(
    cfg: &AuthConfig,
    org: &OrgId,
    role: Role,
    user: &str,
    now_unix: i64,
    ttl: Duration,
) -> Value {
    let mut claims = serde_json::json!({
        "iss": cfg.issuer,
        "aud": cfg.audience,
        "sub": user,
        "iat": now_unix,
        "nbf": now_unix,
        "exp": now_unix + ttl.as_secs() as i64,
    });
    set_path(&mut claims, &cfg.org_claim, Value::String(org.to_string()));
    set_path(
        &mut claims,
        &cfg.role_claim,
        Value::String(role.to_string()),
    );
    claims
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = cur else { return };
        if i == parts.len() - 1 {
            map.insert((*part).to_owned(), value);
            return;
        }
        cur = map
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

fn get_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    // A claim literally named with dots (Cognito's `custom:org_id` has none, but some
    // providers do) wins over a nested path.
    if let Some(v) = root.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(root, |v, part| v.get(part))
}

/// How long fetched JWKS keys are used before they are refreshed.
pub const JWKS_TTL: Duration = Duration::from_secs(600);
/// At most one JWKS fetch starts per window. After a failed fetch the provider is down,
/// and asking again at once only adds load (the failure is cached this long); after a
/// successful one, a kid it did not hold is made up or not yet published, and refetching
/// per request would let anyone turn our traffic into theirs.
pub const JWKS_RETRY_WINDOW: Duration = Duration::from_secs(30);

/// A verification key with the one algorithm it is used with.
type VerifyKey = Arc<(Algorithm, DecodingKey)>;

/// The keys of one JWKS document.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, VerifyKey>,
    anonymous: Vec<VerifyKey>,
}

impl KeySet {
    fn parse(set: &JwkSet) -> Self {
        let mut keys = Self::default();
        for jwk in &set.keys {
            let Some(alg) = accepted_algorithm(jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let entry = Arc::new((alg, key));
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), entry);
                }
                None => keys.anonymous.push(entry),
            }
        }
        keys
    }

    /// The key for `kid`; a token without a kid only matches a set of exactly one key.
    fn find(&self, kid: Option<&str>) -> Option<VerifyKey> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.by_kid.len() + self.anonymous.len() == 1 => self
                .by_kid
                .values()
                .chain(self.anonymous.iter())
                .next()
                .cloned(),
            None => None,
        }
    }
}

/// The algorithm a JWK is used with, if it is one we accept: RSA keys for RS256, P-256
/// keys for ES256, and nothing published for encryption or for another algorithm.
fn accepted_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let (alg, declared) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(alg),
        Some(a) if a == declared => Some(alg),
        Some(_) => None,
    }
}

/// The last good key set and when it was fetched.
struct Fetched {
    keys: Arc<KeySet>,
    at: DateTime<Utc>,
}

/// When the last fetch finished, and whether it succeeded.
#[derive(Clone, Copy)]
struct Attempt {
    at: DateTime<Utc>,
    ok: bool,
}

/// A fetch in progress: every request that needs it awaits the same future.
type Flight = Shared<BoxFuture<'static, ()>>;

#[derive(Default)]
struct JwksState {
    good: Option<Fetched>,
    last_attempt: Option<Attempt>,
    flight: Option<Flight>,
}

impl JwksState {
    /// The key for `kid` from keys within their normal life.
    fn fresh_key(&self, kid: Option<&str>, now: DateTime<Utc>) -> Option<VerifyKey> {
        self.good
            .as_ref()
            .filter(|g| now - g.at < delta(JWKS_TTL))
            .and_then(|g| g.keys.find(kid))
    }

    /// Whether a new fetch may start now (see [`JWKS_RETRY_WINDOW`]).
    fn may_fetch(&self, now: DateTime<Utc>) -> bool {
        self.last_attempt
            .is_none_or(|a| now - a.at >= delta(JWKS_RETRY_WINDOW))
    }

    /// Answers without fetching: a key from the last good set while it is within its
    /// life plus `max_stale`; else 401 when the provider answered and the kid is not
    /// there, 503 when it could not be asked.
    fn resolve(
        &self,
        kid: Option<&str>,
        now: DateTime<Utc>,
        max_stale: TimeDelta,
    ) -> Result<VerifyKey, AuthError> {
        let usable = self
            .good
            .as_ref()
            .filter(|g| now - g.at <= delta(JWKS_TTL) + max_stale);
        if let Some(key) = usable.and_then(|g| g.keys.find(kid)) {
            return Ok(key);
        }
        match self.last_attempt {
            Some(Attempt { ok: true, .. }) => {
                Err(AuthError::Invalid("token is signed by an unknown key"))
            }
            _ => Err(AuthError::KeysUnavailable),
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

struct JwksInner {
    url: String,
    origin: url::Origin,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    max_stale: TimeDelta,
    // A std mutex: every critical section is a few field reads or writes, and none
    // spans an await (fetches run outside it, shared through `flight`).
    state: Mutex<JwksState>,
}

/// The identity provider's keys, cached (see the module docs).
struct JwksCache(Arc<JwksInner>);

impl JwksCache {
    fn new(url: String, http: reqwest::Client, clock: Arc<dyn Clock>, max_stale: Duration) -> Self {
        // Config checks the URL; one that does not parse gets an origin no answer has.
        let origin = url::Url::parse(&url)
            .map(|u| u.origin())
            .unwrap_or_else(|_| url::Origin::new_opaque());
        Self(Arc::new(JwksInner {
            url,
            origin,
            http,
            clock,
            max_stale: delta(max_stale),
            state: Mutex::new(JwksState::default()),
        }))
    }

    async fn key(&self, kid: Option<&str>) -> Result<VerifyKey, AuthError> {
        let flight = {
            let mut state = self.0.lock();
            let now = self.0.clock.now();
            if let Some(key) = state.fresh_key(kid, now) {
                return Ok(key);
            }
            if state.flight.is_none() && !state.may_fetch(now) {
                return state.resolve(kid, now, self.0.max_stale);
            }
            state
                .flight
                .get_or_insert_with(|| JwksInner::start_fetch(self.0.clone()))
                .clone()
        };
        flight.await;
        let now = self.0.clock.now();
        self.0.lock().resolve(kid, now, self.0.max_stale)
    }
}

impl JwksInner {
    fn lock(&self) -> MutexGuard<'_, JwksState> {
        // The state stays consistent even if a holder panicked: every write is a whole
        // field.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared fetch: it records its own outcome and clears itself from the state,
    /// whichever of its waiters drives it to completion.
    fn start_fetch(self: Arc<Self>) -> Flight {
        async move {
            let fetched = self.fetch().await;
            let ok = fetched.is_ok();
            let now = self.clock.now();
            let mut state = self.lock();
            match fetched {
                Ok(keys) => {
                    state.good = Some(Fetched {
                        keys: Arc::new(keys),
                        at: now,
                    })
                }
                Err(()) => {
                    if let Some(good) = &state.good {
                        let until = good.at + delta(JWKS_TTL) + self.max_stale;
                        tracing::warn!(
                            fetched_at = %fmt_time(good.at),
                            usable_until = %fmt_time(until),
                            "JWKS refresh failed; verifying with the last good keys"
                        );
                    }
                }
            }
            state.last_attempt = Some(Attempt { at: now, ok });
            state.flight = None;
        }
        .boxed()
        .shared()
    }

    async fn fetch(&self) -> Result<KeySet, ()> {
        let response = self.http.get(&self.url).send().await.map_err(|e| {
            tracing::error!(error = %e, "could not fetch the JWKS");
        })?;
        // The app's client follows no redirect to another host; checking where the
        // answer came from as well means keys from elsewhere are never trusted, whatever
        // client was injected.
        if response.url().origin() != self.origin {
            tracing::error!(
                "the JWKS request was redirected to another host; its keys are not trusted"
            );
            return Err(());
        }
        if !response.status().is_success() {
            tracing::error!(
                status = response.status().as_u16(),
                "could not fetch the JWKS"
            );
            return Err(());
        }
        let set: JwkSet = response.json().await.map_err(|e| {
            tracing::error!(error = %e, "the JWKS does not parse");
        })?;
        Ok(KeySet::parse(&set))
    }
}

/// Verifies bearer tokens.
pub struct Authenticator {
    cfg: AuthConfig,
    dev: Option<DevKey>,
    jwks: Option<JwksCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.cfg.issuer)
            .field("dev_key", &self.dev.is_some())
            .field("jwks", &self.jwks.as_ref().map(|j| &j.0.url))
            .finish()
    }
}

impl Authenticator {
    /// Builds an authenticator on the system clock; opens (or creates) the dev key if
    /// configured.
    pub fn new(cfg: AuthConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        Self::with_clock(cfg, http, Arc::new(SystemClock))
    }

    /// Builds an authenticator whose JWKS cache ages by `clock` (the app's clock, so
    /// tests can move it). Token `exp`/`nbf` are checked against the system time.
    pub fn with_clock(
        cfg: AuthConfig,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        // Tokens are verified with ring (see `jwt_crypto`), installed before the first one.
        crate::jwt_crypto::install();
        let dev = load_dev_key(&cfg)?;
        let jwks = cfg
            .jwks_url
            .clone()
            .map(|url| JwksCache::new(url, http, clock, cfg.jwks_max_stale));
        Ok(Self { cfg, dev, jwks })
    }

    /// The dev key, when trusted.
    pub fn dev_key(&self) -> Option<&DevKey> {
        self.dev.as_ref()
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// Verifies `Authorization: Bearer <jwt>` and extracts the caller.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = bearer_token(authorization)?;
        if token.is_empty() || token.len() > 16 * 1024 {
            return Err(AuthError::Invalid("token is malformed"));
        }
        let jwt_header =
            decode_header(token).map_err(|_| AuthError::Invalid("token is malformed"))?;
        if !matches!(jwt_header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Invalid(
                "token algorithm is not accepted (RS256 or ES256)",
            ));
        }
        let kid = jwt_header.kid.as_deref();
        let dev_match = self
            .dev
            .as_ref()
            .filter(|d| jwt_header.alg == Algorithm::ES256 && kid.is_none_or(|k| k == d.kid));
        let claims = if let Some(dev) = dev_match {
            self.verify(token, Algorithm::ES256, &dev.decoding)?
        } else if let Some(jwks) = &self.jwks {
            let key = jwks.key(kid).await?;
            if key.0 != jwt_header.alg {
                return Err(AuthError::Invalid("token algorithm does not match its key"));
            }
            self.verify(token, key.0, &key.1)?
        } else {
            return Err(AuthError::Invalid("token is signed by an unknown key"));
        };
        self.caller(&claims)
    }

    fn verify(&self, token: &str, alg: Algorithm, key: &DecodingKey) -> Result<Value, AuthError> {
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.cfg.issuer]);
        v.set_audience(&[&self.cfg.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = 30;
        decode::<Value>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                AuthError::Invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "token has expired",
                    ErrorKind::ImmatureSignature => "token is not valid yet",
                    ErrorKind::InvalidIssuer => "token issuer is not accepted",
                    ErrorKind::InvalidAudience => "token audience is not accepted",
                    ErrorKind::InvalidSignature => "token signature is invalid",
                    ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                    // A time claim that is not a number (`"nbf": "…"`) is refused, never
                    // read as absent (CVE-2026-25537 in jsonwebtoken < 10.3).
                    ErrorKind::InvalidClaimFormat(_) => "token has a malformed claim",
                    _ => "token is malformed",
                })
            })
    }

    fn caller(&self, claims: &Value) -> Result<Caller, AuthError> {
        let org = get_path(claims, &self.cfg.org_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AuthError::NotAMember(format!(
                    "token has no `{}` claim: the user is not acting in an organisation",
                    self.cfg.org_claim
                ))
            })?;
        let org = OrgId::parse(org)
            .map_err(|e| AuthError::NotAMember(format!("token org id is not valid: {e}")))?;
        let role = get_path(claims, &self.cfg.role_claim)
            .and_then(Value::as_str)
            .and_then(Role::parse)
            .ok_or_else(|| {
                AuthError::NotAMember(format!(
                    "token has no known role in `{}`",
                    self.cfg.role_claim
                ))
            })?;
        let text = |path: &str| {
            get_path(claims, path)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Caller {
            org,
            role,
            user: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            name: text(&self.cfg.name_claim),
            email: text(&self.cfg.email_claim),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_JWKS_MAX_STALE, DEV_AUDIENCE, DEV_ISSUER};

    fn cfg(dir: &Path) -> AuthConfig {
        AuthConfig {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            jwks_url: None,
            org_claim: "org_id".into(),
            role_claim: "org_role".into(),
            name_claim: "name".into(),
            email_claim: "email".into(),
            dev_key_file: Some(dir.join("key.pk8")),
            dev_key_base64: None,
            refuse_test_key: false,
            jwks_max_stale: DEFAULT_JWKS_MAX_STALE,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[tokio::test]
    async fn dev_tokens_round_trip_and_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::new(cfg(dir.path()), reqwest::Client::new()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key.pk8"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let org = OrgId::parse("acme").unwrap();
        let claims = dev_claims(
            auth.config(),
            &org,
            Role::Agent,
            "user_1",
            now(),
            Duration::from_secs(60),
        );
        let token = auth.dev_key().unwrap().sign(&claims).unwrap();
        let caller = auth
            .authenticate(Some(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!(
            caller,
            Caller {
                org,
                role: Role::Agent,
                user: Some("user_1".into()),
                name: None,
                email: None,
            }
        );
        // A second authenticator on the same file trusts the same tokens.
        let again = Authenticator::new(cfg(dir.path()), reqwest::Client::new()).unwrap();
        assert!(
            again
                .authenticate(Some(&format!("bearer {token}")))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn name_and_email_come_from_their_configured_claims() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path());
        c.name_claim = "profile.full_name".into();
        let auth = Authenticator::new(c, reqwest::Client::new()).unwrap();
        let org = OrgId::parse("acme").unwrap();
        let mut claims = dev_claims(
            auth.config(),
            &org,
            Role::Viewer,
            "user_2",
            now(),
            Duration::from_secs(60),
        );
        claims["profile"] = serde_json::json!({"full_name": "Ana Silva"});
        claims["email"] = "ana@example.com".into();
        // The default name claim is not the configured one: ignored.
        claims["name"] = "someone else".into();
        let token = auth.dev_key().unwrap().sign(&claims).unwrap();
        let caller = auth
            .authenticate(Some(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!(caller.name.as_deref(), Some("Ana Silva"));
        assert_eq!(caller.email.as_deref(), Some("ana@example.com"));
    }

    #[tokio::test]
    async fn rejections() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::new(cfg(dir.path()), reqwest::Client::new()).unwrap();
        let org = OrgId::parse("acme").unwrap();
        let key = auth.dev_key().unwrap();
        assert_eq!(auth.authenticate(None).await, Err(AuthError::Missing));
        assert!(matches!(
            auth.authenticate(Some("Basic abc")).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            auth.authenticate(Some("Bearer not.a.jwt")).await,
            Err(AuthError::Invalid(_))
        ));

        let expired = dev_claims(
            auth.config(),
            &org,
            Role::Owner,
            "u",
            now() - 7200,
            Duration::from_secs(60),
        );
        let t = key.sign(&expired).unwrap();
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::Invalid("token has expired"))
        );

        let mut wrong_aud = dev_claims(
            auth.config(),
            &org,
            Role::Owner,
            "u",
            now(),
            Duration::from_secs(60),
        );
        wrong_aud["aud"] = "other".into();
        let t = key.sign(&wrong_aud).unwrap();
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::Invalid("token audience is not accepted"))
        );

        // Tampered payload: signature no longer matches.
        let good = key
            .sign(&dev_claims(
                auth.config(),
                &org,
                Role::Viewer,
                "u",
                now(),
                Duration::from_secs(60),
            ))
            .unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["org_role"] = "owner".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        );
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {forged}"))).await,
            Err(AuthError::Invalid("token signature is invalid"))
        );

        // HS256 with the public key as secret (algorithm confusion) is refused outright.
        // Built by hand: the ring provider signs no HMAC tokens either.
        let hs_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"org_id":"acme"}"#)
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"x"),
            hs_input.as_bytes(),
        );
        let hs = format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        assert!(matches!(
            auth.authenticate(Some(&format!("Bearer {hs}"))).await,
            Err(AuthError::Invalid(_))
        ));

        // A token from another dev key is unknown.
        let other_dir = tempfile::tempdir().unwrap();
        let other = DevKey::open_or_create(&other_dir.path().join("k")).unwrap();
        let t = other
            .sign(&dev_claims(
                auth.config(),
                &org,
                Role::Owner,
                "u",
                now(),
                Duration::from_secs(60),
            ))
            .unwrap();
        assert!(matches!(
            auth.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::Invalid(_))
        ));

        // No org, or an unknown role: authenticated but not a member.
        let mut no_org = dev_claims(
            auth.config(),
            &org,
            Role::Owner,
            "u",
            now(),
            Duration::from_secs(60),
        );
        no_org.as_object_mut().unwrap().remove("org_id");
        let t = key.sign(&no_org).unwrap();
        assert!(matches!(
            auth.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::NotAMember(_))
        ));
        let mut bad_role = dev_claims(
            auth.config(),
            &org,
            Role::Owner,
            "u",
            now(),
            Duration::from_secs(60),
        );
        bad_role["org_role"] = "superuser".into();
        let t = key.sign(&bad_role).unwrap();
        assert!(matches!(
            auth.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::NotAMember(_))
        ));
    }

    #[tokio::test]
    async fn nested_claims_like_clerk_v2() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path());
        c.org_claim = "o.id".into();
        c.role_claim = "o.rol".into();
        let auth = Authenticator::new(c, reqwest::Client::new()).unwrap();
        let org = OrgId::parse("org_2abc").unwrap();
        let claims = dev_claims(
            auth.config(),
            &org,
            Role::Admin,
            "u",
            now(),
            Duration::from_secs(60),
        );
        assert_eq!(claims["o"]["id"], "org_2abc");
        let t = auth.dev_key().unwrap().sign(&claims).unwrap();
        let caller = auth
            .authenticate(Some(&format!("Bearer {t}")))
            .await
            .unwrap();
        assert_eq!(
            (caller.org.as_str(), caller.role),
            ("org_2abc", Role::Admin)
        );
    }

    const RSA_KEY: &str = include_str!("../testdata/test-rsa-key.pem");
    const JWKS: &str = include_str!("../testdata/test-jwks.json");

    fn idp_token(kid: Option<&str>, claims: &Value) -> String {
        crate::jwt_crypto::install();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn idp_config(jwks_url: String) -> AuthConfig {
        AuthConfig {
            issuer: "https://clerk.example.com".into(),
            audience: "crm".into(),
            jwks_url: Some(jwks_url),
            org_claim: "o.id".into(),
            role_claim: "o.rol".into(),
            name_claim: "name".into(),
            email_claim: "email".into(),
            dev_key_file: None,
            dev_key_base64: None,
            refuse_test_key: true,
            jwks_max_stale: DEFAULT_JWKS_MAX_STALE,
        }
    }

    #[tokio::test]
    async fn rs256_tokens_verify_against_a_cached_jwks() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let idp = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .expect(1)
            .mount(&idp)
            .await;
        let auth = Authenticator::new(
            idp_config(format!("{}/.well-known/jwks.json", idp.uri())),
            reqwest::Client::new(),
        )
        .unwrap();
        let claims = serde_json::json!({
            "iss": "https://clerk.example.com", "aud": "crm", "sub": "user_2x", "exp": now() + 300, "nbf": now() - 5,
            "o": {"id": "org_2abc", "rol": "org:admin"}
        });
        for _ in 0..3 {
            let caller = auth
                .authenticate(Some(&format!(
                    "Bearer {}",
                    idp_token(Some("test-key-1"), &claims)
                )))
                .await
                .unwrap();
            assert_eq!(
                (caller.org.as_str(), caller.role, caller.user.as_deref()),
                ("org_2abc", Role::Admin, Some("user_2x"))
            );
        }
        // A single-key set also verifies tokens without a kid.
        assert!(
            auth.authenticate(Some(&format!("Bearer {}", idp_token(None, &claims))))
                .await
                .is_ok()
        );
        // Wrong issuer or audience are refused even with a good signature.
        let mut other = claims.clone();
        other["iss"] = "https://evil.example".into();
        assert_eq!(
            auth.authenticate(Some(&format!(
                "Bearer {}",
                idp_token(Some("test-key-1"), &other)
            )))
            .await,
            Err(AuthError::Invalid("token issuer is not accepted"))
        );
        // An unknown kid triggers at most one refresh per 30 s: the JWKS was fetched once.
        assert!(matches!(
            auth.authenticate(Some(&format!(
                "Bearer {}",
                idp_token(Some("rotated-key"), &claims)
            )))
            .await,
            Err(AuthError::Invalid(_))
        ));
        idp.verify().await;
        // The dev key is not trusted where it is not configured.
        let dir = tempfile::tempdir().unwrap();
        let dev = DevKey::open_or_create(&dir.path().join("k")).unwrap();
        let mut dev_claims_v = claims.clone();
        dev_claims_v["exp"] = (now() + 60).into();
        assert!(
            auth.authenticate(Some(&format!(
                "Bearer {}",
                dev.sign(&dev_claims_v).unwrap()
            )))
            .await
            .is_err()
        );
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_a_503_not_a_401() {
        let auth = Authenticator::new(
            idp_config("http://127.0.0.1:9/jwks".into()),
            reqwest::Client::new(),
        )
        .unwrap();
        let claims = serde_json::json!({"iss": "https://clerk.example.com", "aud": "crm", "exp": now() + 300, "o": {"id": "a", "rol": "admin"}});
        assert_eq!(
            auth.authenticate(Some(&format!(
                "Bearer {}",
                idp_token(Some("test-key-1"), &claims)
            )))
            .await,
            Err(AuthError::KeysUnavailable)
        );
    }

    #[tokio::test]
    async fn inline_key_trusts_the_same_tokens_as_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file_auth = Authenticator::new(cfg(dir.path()), reqwest::Client::new()).unwrap();
        let der = std::fs::read(dir.path().join("key.pk8")).unwrap();
        let mut inline = cfg(dir.path());
        inline.dev_key_file = None;
        inline.dev_key_base64 = Some(base64::engine::general_purpose::STANDARD.encode(der));
        let inline_auth = Authenticator::new(inline, reqwest::Client::new()).unwrap();
        let org = OrgId::parse("acme").unwrap();
        let t = file_auth
            .dev_key()
            .unwrap()
            .sign(&dev_claims(
                file_auth.config(),
                &org,
                Role::Viewer,
                "u",
                now(),
                Duration::from_secs(60),
            ))
            .unwrap();
        assert!(
            inline_auth
                .authenticate(Some(&format!("Bearer {t}")))
                .await
                .is_ok()
        );
    }

    #[test]
    fn roles_are_ordered_for_require() {
        let c = Caller {
            org: OrgId::parse("a").unwrap(),
            role: Role::Agent,
            user: None,
            name: None,
            email: None,
        };
        assert!(c.require(Role::Viewer).is_ok());
        assert!(c.require(Role::Agent).is_ok());
        assert!(c.require(Role::Admin).is_err());
    }

    #[tokio::test]
    async fn time_claims_that_are_not_numbers_are_refused() {
        // CVE-2026-25537: jsonwebtoken 9.x read a string `nbf` as no `nbf` at all, so a
        // token meant for later was accepted now.
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::new(cfg(dir.path()), reqwest::Client::new()).unwrap();
        let key = auth.dev_key().unwrap();
        let org = OrgId::parse("acme").unwrap();
        let claims = |nbf: Value| {
            let mut c = dev_claims(
                auth.config(),
                &org,
                Role::Owner,
                "u",
                now(),
                Duration::from_secs(3600),
            );
            c["nbf"] = nbf;
            key.sign(&c).unwrap()
        };
        let later = now() + 1800;
        for (nbf, why) in [
            (
                Value::from(later.to_string()),
                "token has a malformed claim",
            ),
            (
                Value::from(
                    chrono::DateTime::from_timestamp(later, 0)
                        .unwrap()
                        .to_rfc3339(),
                ),
                "token has a malformed claim",
            ),
            (Value::from(later), "token is not valid yet"),
        ] {
            let t = claims(nbf.clone());
            assert_eq!(
                auth.authenticate(Some(&format!("Bearer {t}"))).await,
                Err(AuthError::Invalid(why)),
                "nbf {nbf}"
            );
            // …which the API answers with 401.
            let e = crate::http::ApiError::from(AuthError::Invalid(why));
            assert_eq!(e.status, http::StatusCode::UNAUTHORIZED);
        }
        // A past numeric nbf, and one within the 30 s leeway, are fine.
        for nbf in [now() - 60, now() + 10] {
            let t = claims(Value::from(nbf));
            assert!(
                auth.authenticate(Some(&format!("Bearer {t}")))
                    .await
                    .is_ok()
            );
        }
        // A string `exp` is no `exp`, which is required.
        let mut c = dev_claims(
            auth.config(),
            &org,
            Role::Owner,
            "u",
            now(),
            Duration::from_secs(60),
        );
        c["exp"] = Value::from((now() + 60).to_string());
        let t = key.sign(&c).unwrap();
        assert!(matches!(
            auth.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn the_committed_test_key_is_recognised_and_refused_where_configured() {
        let der = include_bytes!("../../../events/test-signing-key.pk8");
        let key = DevKey::from_pkcs8(der).unwrap();
        assert_eq!(key.fingerprint(), COMMITTED_TEST_KEY_FINGERPRINT);
        assert!(key.is_committed_test_key());
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !DevKey::open_or_create(&dir.path().join("k"))
                .unwrap()
                .is_committed_test_key()
        );

        let path = dir.path().join("copy-of-the-test-key.pk8");
        std::fs::write(&path, der).unwrap();
        let mut c = cfg(dir.path());
        c.dev_key_file = Some(path);
        c.refuse_test_key = true;
        let err = Authenticator::new(c.clone(), reqwest::Client::new()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { var: "SWITCHBOARD_DEV_KEY_FILE", reason } if reason.contains("test key")),
            "{err}"
        );
        c.dev_key_base64 = Some(base64::engine::general_purpose::STANDARD.encode(der));
        assert!(matches!(
            load_dev_key(&c),
            Err(ConfigError::Invalid {
                var: "SWITCHBOARD_DEV_KEY",
                ..
            })
        ));
        // The embedded backend may use it (the sample events are signed with it).
        c.refuse_test_key = false;
        assert!(load_dev_key(&c).unwrap().unwrap().is_committed_test_key());
        // A key that does not load names its variable too.
        c.dev_key_base64 = Some("not base64!".into());
        assert!(matches!(
            load_dev_key(&c),
            Err(ConfigError::Invalid {
                var: "SWITCHBOARD_DEV_KEY",
                ..
            })
        ));
    }

    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_core::clock::FixedClock;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn idp_claims() -> Value {
        serde_json::json!({
            "iss": "https://clerk.example.com", "aud": "crm", "sub": "user_2x",
            "exp": now() + 3600, "o": {"id": "org_2abc", "rol": "org:admin"}
        })
    }

    fn bearer(kid: &str) -> String {
        format!("Bearer {}", idp_token(Some(kid), &idp_claims()))
    }

    /// `bearer` with its token's kid replaced: the signature no longer verifies, but the
    /// key is looked up first, and RSA signing in a debug build is slow for floods.
    fn with_kid(bearer: &str, kid: &str) -> String {
        let token = bearer.strip_prefix("Bearer ").unwrap();
        let (_, rest) = token.split_once('.').unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        format!("Bearer {header}.{rest}")
    }

    async fn fetches(idp: &MockServer) -> usize {
        idp.received_requests().await.unwrap().len()
    }

    /// An identity provider whose JWKS answers once, then fails with 503.
    async fn flaky_idp() -> MockServer {
        let idp = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&idp)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .with_priority(2)
            .mount(&idp)
            .await;
        idp
    }

    fn idp_auth(idp: &MockServer, clock: &Arc<FixedClock>) -> Authenticator {
        Authenticator::with_clock(
            idp_config(format!("{}/jwks.json", idp.uri())),
            crate::app::http_client(),
            clock.clone(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn last_good_keys_verify_through_an_outage_until_the_stale_bound() {
        let idp = flaky_idp().await;
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let auth = idp_auth(&idp, &clock);
        let good = bearer("test-key-1");
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        assert_eq!(fetches(&idp).await, 1);

        // Past the cache life the refresh fails; the last good keys still verify, and
        // the failure is remembered for the retry window.
        clock.advance(chrono::Duration::minutes(11));
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        assert_eq!(fetches(&idp).await, 2);
        clock.advance(chrono::Duration::seconds(20));
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        assert_eq!(fetches(&idp).await, 2, "no refetch inside the retry window");

        // Just inside the bound (10 min life + 24 h stale), then just past it.
        let fetched = clock.now() - chrono::Duration::minutes(11) - chrono::Duration::seconds(20);
        clock.set(fetched + chrono::Duration::minutes(10) + chrono::Duration::hours(24));
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(
            auth.authenticate(Some(&good)).await,
            Err(AuthError::KeysUnavailable)
        );
        // One fetch per window during the outage: at 11 min and at the bound; the
        // refusal a second later is answered from the cached failure.
        assert_eq!(fetches(&idp).await, 3);

        // The provider comes back: the next window's fetch restores service.
        idp.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .mount(&idp)
            .await;
        assert_eq!(
            auth.authenticate(Some(&good)).await,
            Err(AuthError::KeysUnavailable),
            "still inside the window of the last failure"
        );
        clock.advance(chrono::Duration::seconds(31));
        assert!(auth.authenticate(Some(&good)).await.is_ok());
    }

    #[tokio::test]
    async fn a_zero_stale_bound_fails_as_soon_as_the_keys_expire() {
        let idp = flaky_idp().await;
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let mut c = idp_config(format!("{}/jwks.json", idp.uri()));
        c.jwks_max_stale = Duration::ZERO;
        let auth = Authenticator::with_clock(c, crate::app::http_client(), clock.clone()).unwrap();
        let good = bearer("test-key-1");
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        clock.advance(chrono::Duration::minutes(11));
        assert_eq!(
            auth.authenticate(Some(&good)).await,
            Err(AuthError::KeysUnavailable)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_unknown_kids_fetches_at_most_once_per_window() {
        let idp = flaky_idp().await;
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let auth = Arc::new(idp_auth(&idp, &clock));
        let good = bearer("test-key-1");
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        let seq = AtomicUsize::new(0);
        let flood = |n: usize| {
            let tokens: Vec<String> = (0..n)
                .map(|_| {
                    with_kid(
                        &good,
                        &format!("made-up-{}", seq.fetch_add(1, Ordering::Relaxed)),
                    )
                })
                .collect();
            let auth = auth.clone();
            async move {
                let tasks: Vec<_> = tokens
                    .into_iter()
                    .map(|t| {
                        let auth = auth.clone();
                        tokio::spawn(async move { auth.authenticate(Some(&t)).await })
                    })
                    .collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                out
            }
        };

        // Right after a good fetch: the kids are simply unknown (401), nothing fetched.
        for r in flood(50).await {
            assert_eq!(
                r,
                Err(AuthError::Invalid("token is signed by an unknown key"))
            );
        }
        assert_eq!(fetches(&idp).await, 1);

        // Each later window: one fetch, shared by the whole flood; it fails, so unknown
        // kids get 503 (the provider may have rotated) while the known key still works.
        for window in 1..=3 {
            clock.advance(chrono::Duration::seconds(31));
            for r in flood(50).await {
                assert_eq!(r, Err(AuthError::KeysUnavailable));
            }
            for r in flood(50).await {
                assert_eq!(r, Err(AuthError::KeysUnavailable));
            }
            assert!(auth.authenticate(Some(&good)).await.is_ok());
            assert_eq!(fetches(&idp).await, 1 + window);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_fetch_and_do_not_block_known_keys() {
        let idp = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(JWKS, "application/json")
                    .set_delay(Duration::from_millis(300)),
            )
            .mount(&idp)
            .await;
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let auth = Arc::new(idp_auth(&idp, &clock));
        let good = bearer("test-key-1");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (auth, good) = (auth.clone(), good.clone());
                tokio::spawn(async move { auth.authenticate(Some(&good)).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(fetches(&idp).await, 1);

        // While a slow refresh (an unknown kid) is in flight, tokens with known keys
        // verify at once: the state lock is not held across the fetch.
        clock.advance(chrono::Duration::seconds(31));
        let slow = {
            let (auth, rotated) = (auth.clone(), with_kid(&good, "rotated"));
            tokio::spawn(async move { auth.authenticate(Some(&rotated)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        assert!(auth.authenticate(Some(&good)).await.is_ok());
        assert!(started.elapsed() < Duration::from_millis(200));
        assert!(matches!(slow.await.unwrap(), Err(AuthError::Invalid(_))));
        assert_eq!(fetches(&idp).await, 2);
    }

    #[tokio::test]
    async fn a_jwks_redirect_to_another_host_is_not_followed() {
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .mount(&elsewhere)
            .await;
        let idp = MockServer::start().await;
        Mock::given(path("/jwks.json"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "location",
                format!("http://localhost:{}/jwks.json", elsewhere.address().port()).as_str(),
            ))
            .mount(&idp)
            .await;
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let good = bearer("test-key-1");

        // The app's client does not follow it at all.
        let auth = idp_auth(&idp, &clock);
        assert_eq!(
            auth.authenticate(Some(&good)).await,
            Err(AuthError::KeysUnavailable)
        );
        assert_eq!(fetches(&elsewhere).await, 0);

        // A client that follows redirects still gets no keys from elsewhere trusted.
        let lax = Authenticator::with_clock(
            idp_config(format!("{}/jwks.json", idp.uri())),
            reqwest::Client::new(),
            clock.clone(),
        )
        .unwrap();
        assert_eq!(
            lax.authenticate(Some(&good)).await,
            Err(AuthError::KeysUnavailable)
        );
        assert_eq!(fetches(&elsewhere).await, 1);

        // A redirect on the same host is fine (providers move their JWKS path).
        idp.reset().await;
        Mock::given(path("/jwks.json"))
            .respond_with(
                ResponseTemplate::new(301)
                    .insert_header("location", format!("{}/v2/jwks", idp.uri()).as_str()),
            )
            .mount(&idp)
            .await;
        Mock::given(path("/v2/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
            .mount(&idp)
            .await;
        let moved = idp_auth(&idp, &clock);
        assert!(moved.authenticate(Some(&good)).await.is_ok());
    }
}
