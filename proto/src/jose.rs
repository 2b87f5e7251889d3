//! The JOSE the provider needs, and no more: base64url (RFC 7515 §2), ES256 compact JWS
//! (RFC 7515 §7.1, RFC 7518 §3.4: the signature is `r || s`, 32 bytes each), EC public
//! keys as JWK (RFC 7517, RFC 7518 §6.2) named by their RFC 7638 thumbprint, and the
//! verification of a JWS made by a portal (ES256 or RS256) for `private_key_jwt`.

use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// A key or a token could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// A signing key is not a P-256 PKCS#8 key.
    #[error("not a P-256 private key in PKCS#8 PEM: {0}")]
    BadKey(String),
    /// Signing failed (the system's randomness).
    #[error("signing failed")]
    Signing,
    /// A JWS is malformed, uses another algorithm, or its signature does not verify.
    #[error("{0}")]
    BadToken(&'static str),
}

/// `bytes` in base64url without padding.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One ES256 signing key and its public JWK.
#[derive(Debug)]
pub struct SigningKey {
    pair: EcdsaKeyPair,
    kid: String,
    jwk: Value,
}

impl SigningKey {
    /// Reads a P-256 key from PKCS#8 PEM (`openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256`).
    pub fn from_pem(text: &str) -> Result<Self, JoseError> {
        let block = pem::parse(text).map_err(|e| JoseError::BadKey(e.to_string()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(JoseError::BadKey(format!(
                "a {:?} block, not PRIVATE KEY",
                block.tag()
            )));
        }
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents())
            .map_err(|e| JoseError::BadKey(e.to_string()))?;
        Ok(Self::of(pair))
    }

    fn of(pair: EcdsaKeyPair) -> Self {
        // An uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        let (x, y) = (b64url(&point[1..33]), b64url(&point[33..65]));
        // RFC 7638 §3.2: the required members, in lexicographic order, no whitespace.
        let thumbprint = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = b64url(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            thumbprint.as_bytes(),
        ));
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid});
        Self { pair, kid, jwk }
    }

    /// The key's id: its JWK thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// The provider's keys: the first signs, all are published, so tokens signed with a key
/// being retired still verify while it stays listed (rotation with overlap).
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// A set whose first key signs; `None` when empty.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The JWK Set document (RFC 7517 §5).
    pub fn jwks(&self) -> Value {
        json!({"keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
    }

    /// `claims` as a compact JWS signed ES256 by the first key.
    pub fn sign(&self, claims: &Value) -> Result<String, JoseError> {
        self.sign_typed(claims, "JWT")
    }

    /// [`Self::sign`] with this `typ` header (RFC 7515 §4.1.9; `logout+jwt`, say).
    pub fn sign_typed(&self, claims: &Value, typ: &str) -> Result<String, JoseError> {
        let key = &self.keys[0];
        let header = json!({"alg": "ES256", "typ": typ, "kid": key.kid});
        let input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims.to_string())
        );
        let sig = key
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .map_err(|_| JoseError::Signing)?;
        Ok(format!("{input}.{}", b64url(sig.as_ref())))
    }
}

/// A compact JWS split and decoded: its header, its payload and what was signed.
struct Compact {
    header: Value,
    payload: Value,
    signed: String,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Compact, JoseError> {
    let bad = JoseError::BadToken;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("a JWS has three parts"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| bad("not base64url"))
    };
    let json = |bytes: Vec<u8>| {
        serde_json::from_slice::<Value>(&bytes).map_err(|_| bad("a part is not JSON"))
    };
    Ok(Compact {
        header: json(decode(h)?)?,
        payload: json(decode(p)?)?,
        signed: format!("{h}.{p}"),
        signature: decode(s)?,
    })
}

/// Verifies a JWS made by a portal against its JWK Set and answers its claims. ES256 and
/// RS256 only (`none` and HMAC are refused: a portal's public keys cannot check a MAC);
/// a `kid` in the header picks the key, otherwise every key of the algorithm is tried.
/// A key marked for another use (`use` other than `sig`, or `key_ops` without `verify`:
/// RFC 7517 §4.2–4.3), such as an encryption key other systems may hold, checks nothing.
pub fn verify(token: &str, jwks: &Value) -> Result<Value, JoseError> {
    let bad = JoseError::BadToken;
    let jws = split(token)?;
    let alg = jws.header["alg"].as_str().unwrap_or_default();
    let kid = jws.header["kid"].as_str();
    if jws.header.get("crit").is_some() {
        return Err(bad("critical header parameters are not understood"));
    }
    let keys = jwks["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let candidates = keys
        .iter()
        .filter(|k| kid.is_none() || k["kid"].as_str() == kid)
        .filter(|k| k["alg"].as_str().is_none_or(|a| a == alg))
        .filter(|k| k.get("use").is_none_or(|u| u == "sig"))
        .filter(|k| {
            k.get("key_ops").is_none_or(|ops| {
                ops.as_array()
                    .is_some_and(|o| o.iter().any(|op| op == "verify"))
            })
        });
    for key in candidates {
        let field = |name: &str| {
            key[name]
                .as_str()
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .unwrap_or_default()
        };
        let verified = match (alg, key["kty"].as_str()) {
            ("ES256", Some("EC")) if key["crv"] == "P-256" => {
                let point = [&[4u8][..], &field("x"), &field("y")].concat();
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(jws.signed.as_bytes(), &jws.signature)
                    .is_ok()
            }
            ("RS256", Some("RSA")) => RsaPublicKeyComponents {
                n: field("n"),
                e: field("e"),
            }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                jws.signed.as_bytes(),
                &jws.signature,
            )
            .is_ok(),
            _ => false,
        };
        if verified {
            return Ok(jws.payload);
        }
    }
    Err(bad(
        "the signature does not verify with any registered key of its algorithm",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh P-256 key as PKCS#8 PEM.
    pub(crate) fn fresh_pem() -> String {
        let doc = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref().to_vec()))
    }

    #[test]
    fn a_signed_token_verifies_with_the_published_keys_and_not_when_changed() {
        let set = KeySet::new(vec![SigningKey::from_pem(&fresh_pem()).unwrap()]).unwrap();
        let token = set.sign(&json!({"sub": "x", "n": 1})).unwrap();
        let claims = verify(&token, &set.jwks()).unwrap();
        assert_eq!(claims["sub"], "x");
        let mut changed = token.clone();
        changed.replace_range(token.len() - 3.., "AAA");
        assert!(verify(&changed, &set.jwks()).is_err());
        let other = KeySet::new(vec![SigningKey::from_pem(&fresh_pem()).unwrap()]).unwrap();
        assert!(verify(&token, &other.jwks()).is_err());
    }

    /// A key published for encryption, or whose operations leave out `verify`, does not
    /// verify a signature it would otherwise check (RFC 7517 §4.2–4.3).
    #[test]
    fn a_key_marked_for_another_use_verifies_nothing() {
        let set = KeySet::new(vec![SigningKey::from_pem(&fresh_pem()).unwrap()]).unwrap();
        let token = set.sign(&json!({"sub": "x"})).unwrap();
        let with = |member: &str, value: Value| {
            let mut jwks = set.jwks();
            jwks["keys"][0][member] = value;
            verify(&token, &jwks)
        };
        assert!(with("use", json!("sig")).is_ok());
        assert!(with("key_ops", json!(["verify"])).is_ok());
        assert!(with("use", json!("enc")).is_err());
        assert!(with("key_ops", json!(["encrypt", "wrapKey"])).is_err());
        assert!(
            with("key_ops", json!("verify")).is_err(),
            "key_ops is an array"
        );
    }

    #[test]
    fn the_kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1 computes its example over an RSA key; for EC the members are
        // crv, kty, x, y. Recompute from the published JWK and compare.
        let key = SigningKey::from_pem(&fresh_pem()).unwrap();
        let jwk = &key.jwk;
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["kty"].as_str().unwrap(),
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(key.kid(), b64url(digest));
        assert_eq!(jwk["kid"], key.kid());
    }

    #[test]
    fn every_key_is_published_and_the_first_signs() {
        let (a, b) = (fresh_pem(), fresh_pem());
        let set = KeySet::new(vec![
            SigningKey::from_pem(&a).unwrap(),
            SigningKey::from_pem(&b).unwrap(),
        ])
        .unwrap();
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 2);
        let token = set.sign(&json!({})).unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"], set.jwks()["keys"][0]["kid"]);
        assert_eq!(header["alg"], "ES256");
        // Once the first key is retired, a token it signed still verifies while the old
        // key stays listed.
        let next = KeySet::new(vec![
            SigningKey::from_pem(&b).unwrap(),
            SigningKey::from_pem(&a).unwrap(),
        ])
        .unwrap();
        assert!(verify(&token, &next.jwks()).is_ok());
        assert!(KeySet::new(vec![]).is_none());
    }

    #[test]
    fn unsigned_mac_and_malformed_tokens_are_refused() {
        let set = KeySet::new(vec![SigningKey::from_pem(&fresh_pem()).unwrap()]).unwrap();
        let none = format!("{}.{}.", b64url(r#"{"alg":"none"}"#), b64url("{}"));
        assert!(verify(&none, &set.jwks()).is_err());
        let hs = format!(
            "{}.{}.{}",
            b64url(r#"{"alg":"HS256"}"#),
            b64url("{}"),
            b64url("x")
        );
        assert!(verify(&hs, &set.jwks()).is_err());
        for junk in ["", "a.b", "a.b.c.d", "!.!.!"] {
            assert!(verify(junk, &set.jwks()).is_err(), "{junk}");
        }
        assert!(
            SigningKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
