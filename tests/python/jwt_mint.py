"""Mints the JWTs of tests/policies.rs with PyJWT and `cryptography`, an implementation
independent of Sluice's: RSA (RS256, PS256), EC P-256 (ES256) and Ed25519 (EdDSA) keys, their
JWKS, valid tokens, and the bad ones a gateway must refuse. Prints one JSON object.

usage: jwt_mint.py ISSUER AUDIENCE
"""

import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def jwk(alg_cls, public_key, kid):
    d = alg_cls.to_jwk(public_key, as_dict=True)
    d["kid"] = kid
    d["use"] = "sig"
    return d


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    issuer, audience = sys.argv[1], sys.argv[2]
    now = int(time.time())
    rsa1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec1 = ec.generate_private_key(ec.SECP256R1())
    ed1 = ed25519.Ed25519PrivateKey.generate()
    claims = {"iss": issuer, "aud": audience, "sub": "alice", "groups": ["ml"], "iat": now, "exp": now + 600}

    def token(key, alg, kid, **changes):
        c = dict(claims)
        for k, v in changes.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return jwt.encode(c, key, algorithm=alg, headers={"kid": kid})

    # HS256 "signed" with the RSA public key as the HMAC secret: the algorithm-confusion attack.
    pem = rsa1.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims).encode())
    confusion = f"{head}.{body}." + b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    none = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{body}."

    out = {
        "jwks": {
            "keys": [
                jwk(RSAAlgorithm, rsa1.public_key(), "rsa-1"),
                jwk(ECAlgorithm, ec1.public_key(), "ec-1"),
                jwk(OKPAlgorithm, ed1.public_key(), "ed-1"),
            ]
        },
        "rotated_jwks": {"keys": [jwk(RSAAlgorithm, rsa2.public_key(), "rsa-2")]},
        "good": {
            "RS256": token(rsa1, "RS256", "rsa-1"),
            "PS256": token(rsa1, "PS256", "rsa-1"),
            "ES256": token(ec1, "ES256", "ec-1"),
            "EdDSA": token(ed1, "EdDSA", "ed-1"),
        },
        "bad": {
            "expired": token(rsa1, "RS256", "rsa-1", iat=now - 7200, exp=now - 3600),
            "not yet valid": token(rsa1, "RS256", "rsa-1", nbf=now + 3600),
            "wrong audience": token(rsa1, "RS256", "rsa-1", aud="someone-else"),
            "wrong issuer": token(rsa1, "RS256", "rsa-1", iss="https://evil.example"),
            "no expiry": token(rsa1, "RS256", "rsa-1", exp=None),
            "unknown key": token(rsa2, "RS256", "rsa-9"),
            "signed by another key": token(rsa2, "RS256", "rsa-1"),
            "alg none": none,
            "HS256 with the RSA public key": confusion,
            "64 KiB": token(rsa1, "RS256", "rsa-1", padding="x" * 65536),
        },
        "rotated": token(rsa2, "RS256", "rsa-2"),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
