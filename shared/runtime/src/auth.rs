//! Bearer-token authentication: RS256/ES256 JWTs verified against the identity
//! provider's JWKS (cached), or — on the dev server and the local backend only — against
//! the development key in the data dir that `switchboard token` signs with.
//!
//! The org and role come from configurable claims (dotted paths), so Clerk
//! (`o.id`/`o.rol` or `org_id`/`org_role`), Supabase (`app_metadata.org_id`) and Cognito
//! (`custom:org_id`) tokens all work. Nothing else in Switchboard decides the org: every
//! handler takes it from the [`Caller`] this module returns.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::Value;
use switchboard_core::ids::{OrgId, Role};
use tokio::sync::RwLock;

use crate::config::AuthConfig;

/// Who is calling: from a verified token, never from the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The org every query is scoped by.
    pub org: OrgId,
    /// What the caller may do.
    pub role: Role,
    /// The token's subject (user id), for audit logs.
    pub user: Option<String>,
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

/// The development signing key (ES256), kept in the data dir with mode 0600.
pub struct DevKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevKey(kid={})", self.kid)
    }
}

impl DevKey {
    /// Loads the key file, creating it if absent.
    pub fn open_or_create(path: &Path) -> std::io::Result<Self> {
        let pkcs8 = switchboard_local::files::read_or_create_private(path, || {
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
        let kid = format!("dev-{}", &switchboard_webhooks::sha256_hex(&[public])[..16]);
        Ok(Self {
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding,
            kid,
        })
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs claims.
    pub fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding)
    }
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

const JWKS_TTL: Duration = Duration::from_secs(600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

struct JwksCache {
    url: String,
    http: reqwest::Client,
    state: RwLock<JwksState>,
}

#[derive(Default)]
struct JwksState {
    fetched_at: Option<Instant>,
    keys: HashMap<String, Arc<(Algorithm, DecodingKey)>>,
    anonymous: Vec<Arc<(Algorithm, DecodingKey)>>,
}

impl JwksCache {
    async fn refresh(&self) -> Result<(), AuthError> {
        let mut state = self.state.write().await;
        if state
            .fetched_at
            .is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH)
        {
            return Ok(());
        }
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                tracing::error!(error = %e, "could not fetch the JWKS");
                AuthError::KeysUnavailable
            })?
            .json()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the JWKS does not parse");
                AuthError::KeysUnavailable
            })?;
        let mut keys = HashMap::new();
        let mut anonymous = Vec::new();
        for jwk in &set.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            let entry = Arc::new((alg, key));
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.insert(kid.clone(), entry);
                }
                None => anonymous.push(entry),
            }
        }
        *state = JwksState {
            fetched_at: Some(Instant::now()),
            keys,
            anonymous,
        };
        Ok(())
    }

    async fn lookup(&self, kid: Option<&str>) -> Option<Arc<(Algorithm, DecodingKey)>> {
        let state = self.state.read().await;
        if state.fetched_at.is_none_or(|t| t.elapsed() > JWKS_TTL) {
            return None;
        }
        match kid {
            Some(kid) => state.keys.get(kid).cloned(),
            None if state.keys.len() + state.anonymous.len() == 1 => state
                .keys
                .values()
                .chain(state.anonymous.iter())
                .next()
                .cloned(),
            None => None,
        }
    }

    async fn key(&self, kid: Option<&str>) -> Result<Arc<(Algorithm, DecodingKey)>, AuthError> {
        if let Some(k) = self.lookup(kid).await {
            return Ok(k);
        }
        // Unknown kid: the provider may have rotated keys. Refresh (rate-limited).
        self.refresh().await?;
        self.lookup(kid)
            .await
            .ok_or(AuthError::Invalid("token is signed by an unknown key"))
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
            .field("jwks", &self.jwks.as_ref().map(|j| &j.url))
            .finish()
    }
}

impl Authenticator {
    /// Builds an authenticator; opens (or creates) the dev key if configured.
    pub fn new(cfg: AuthConfig, http: reqwest::Client) -> std::io::Result<Self> {
        let dev = match (&cfg.dev_key_base64, &cfg.dev_key_file) {
            (Some(b64), _) => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| std::io::Error::other("SWITCHBOARD_DEV_KEY is not base64"))?;
                Some(DevKey::from_pkcs8(&der)?)
            }
            (None, Some(path)) => Some(DevKey::open_or_create(path)?),
            (None, None) => None,
        };
        let jwks = cfg.jwks_url.clone().map(|url| JwksCache {
            url,
            http,
            state: RwLock::new(JwksState::default()),
        });
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
        let header = authorization.ok_or(AuthError::Missing)?.trim();
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(AuthError::Invalid(
                    "expected `Authorization: Bearer <token>`",
                ));
            }
        };
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
        Ok(Caller {
            org,
            role,
            user: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEV_AUDIENCE, DEV_ISSUER};

    fn cfg(dir: &Path) -> AuthConfig {
        AuthConfig {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            jwks_url: None,
            org_claim: "org_id".into(),
            role_claim: "org_role".into(),
            dev_key_file: Some(dir.join("key.pk8")),
            dev_key_base64: None,
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
                user: Some("user_1".into())
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
        let hs = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"org_id":"acme"}),
            &EncodingKey::from_secret(b"x"),
        )
        .unwrap();
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
            dev_key_file: None,
            dev_key_base64: None,
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
        };
        assert!(c.require(Role::Viewer).is_ok());
        assert!(c.require(Role::Agent).is_ok());
        assert!(c.require(Role::Admin).is_err());
    }
}
