"""The token checks, case by case: each way a forged, stale or odd token is refused."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from azu_ws.auth import AuthenticationError, create_token, verify_token
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt

from .bench import TEST_SECRET
from .testapp.config import Settings, SettingsError, load_settings

NOW = int(time.time())
GOOD = {"sub": "alice", "exp": NOW + 3600, "iat": NOW}


def pem_pair(key: Any) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


RSA_PRIVATE, RSA_PUBLIC = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC_PRIVATE, EC_PUBLIC = pem_pair(ec.generate_private_key(ec.SECP256R1()))


def hs256(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256", headers=headers)


def refused(token: str, settings: Settings) -> bool:
    try:
        verify_token(token, settings)
    except AuthenticationError:
        return True
    return False


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(data: dict[str, Any]) -> str:
    return b64(json.dumps(data).encode())


def unsigned(claims: dict[str, Any]) -> str:
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def hmac_with(key: bytes, claims: dict[str, Any]) -> str:
    """An HS256 token keyed with any bytes, as a forger holding a public key would make it."""
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_good_token_passes(settings: Settings) -> None:
    assert verify_token(hs256(GOOD), settings).id == "alice"


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("alg none", unsigned(GOOD)),
        ("alg none, upper case", unsigned(GOOD).replace("bm9uZ", "Tk9OR")),
        ("wrong signature", hs256(GOOD)[:-4] + "AAAA"),
        ("expired", hs256({**GOOD, "exp": NOW - 1})),
        ("not yet valid (nbf)", hs256({**GOOD, "nbf": NOW + 600})),
        ("issued in the future (iat)", hs256({**GOOD, "iat": NOW + 600})),
        ("unknown critical header", hs256(GOOD, headers={"crit": ["exp"], "exp": 1})),
        ("missing sub", hs256({"exp": NOW + 3600})),
        ("over 4 kB", hs256({**GOOD, "pad": "x" * 4096})),
        ("exp as a string", hs256({**GOOD, "exp": str(NOW + 3600)})),
        ("iat as a string", hs256({**GOOD, "iat": str(NOW)})),
        ("garbage", "garbage"),
        ("empty", ""),
        ("two parts", "abc.def"),
    ],
)
def test_a_bad_token_is_refused(settings: Settings, case: str, token: str) -> None:
    assert refused(token, settings), case


def rs256_settings() -> Settings:
    return Settings(
        _env_file=None,
        jwt_algorithm="RS256",
        jwt_public_key=RSA_PUBLIC,
        jwt_private_key=RSA_PRIVATE,
    )


def test_rs256_tokens_verify_against_the_public_key() -> None:
    settings = rs256_settings()
    assert verify_token(create_token("alice", settings), settings).id == "alice"


def test_an_hs256_token_keyed_with_the_rs256_public_key_is_refused() -> None:
    # Algorithm confusion: the public key is public, so an HMAC with it proves nothing.
    der = serialization.load_pem_public_key(RSA_PUBLIC.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = rs256_settings()
    for key in (RSA_PUBLIC.encode(), der):
        assert refused(hmac_with(key, GOOD), settings)


def test_an_hs256_token_is_refused_by_an_rs256_setup_and_the_reverse(settings: Settings) -> None:
    rs256 = rs256_settings()
    assert refused(hs256(GOOD), rs256)
    assert refused(create_token("alice", rs256), settings)


def test_es256_tokens_verify_against_the_public_key() -> None:
    settings = Settings(
        _env_file=None, jwt_algorithm="ES256", jwt_public_key=EC_PUBLIC, jwt_private_key=EC_PRIVATE
    )
    assert verify_token(create_token("alice", settings), settings).id == "alice"


def test_a_public_key_may_be_given_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_PUBLIC_KEY", RSA_PUBLIC.replace("\n", "\\n"))
    assert load_settings().jwt_public_key == RSA_PUBLIC


@pytest.mark.parametrize(
    ("algorithm", "key", "complaint"),
    [
        ("RS256", None, "JWT_PUBLIC_KEY: Field required for RS256"),
        ("RS256", "not a key", "JWT_PUBLIC_KEY: not a PEM public key"),
        ("RS256", EC_PUBLIC, "JWT_PUBLIC_KEY: not a key for RS256"),
        ("ES256", RSA_PUBLIC, "JWT_PUBLIC_KEY: not a key for ES256"),
    ],
)
def test_an_asymmetric_algorithm_needs_its_kind_of_public_key(
    monkeypatch: pytest.MonkeyPatch, algorithm: str, key: str | None, complaint: str
) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", algorithm)
    if key is not None:
        monkeypatch.setenv("JWT_PUBLIC_KEY", key)
    with pytest.raises(SettingsError, match=complaint):
        load_settings()
