"""argon2id parameters, decoy verification, and the access tokens identity issues."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric import ec

from mss_auth.tokens import TokenVerifier
from mss_contracts.permissions import OrganizationType, Role
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.domain.tokens import issue_access_token, new_refresh_token, refresh_token_hash


def _hasher() -> PasswordHasher:
    return PasswordHasher(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)


async def test_hashes_are_argon2id_with_owasp_parameters() -> None:
    hasher = _hasher()
    digest = await hasher.hash("correct horse battery staple")
    assert digest.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in digest
    assert await hasher.verify(digest, "correct horse battery staple")
    assert not await hasher.verify(digest, "wrong password")
    hasher.close()


async def test_unknown_user_runs_the_decoy_and_never_succeeds() -> None:
    hasher = _hasher()
    assert not await hasher.verify(None, "decoy password for unknown users")
    hasher.close()


async def test_issued_token_verifies_with_the_public_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    async def keys() -> Mapping[str, ec.EllipticCurvePublicKey]:
        return {"kid-1": key.public_key()}

    user, session, org = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    issued = issue_access_token(
        key=key,
        kid="kid-1",
        issuer="mss-identity",
        audience="mss-platform",
        ttl_s=900,
        user_id=user,
        session_id=session,
        org_id=org,
        org_type=OrganizationType.CUSTOMER,
        role=Role.ADMIN,
        amr=["pwd"],
    )
    claims = await TokenVerifier(
        load_keys=keys, issuer="mss-identity", audience="mss-platform"
    ).verify(issued.token)
    assert (claims.sub, claims.sid, claims.org) == (user, session, org)
    assert claims.role is Role.ADMIN
    assert issued.expires_in == 900


def test_refresh_tokens_are_256_bit_and_stored_as_hashes() -> None:
    token = new_refresh_token()
    assert len(token) >= 43
    assert refresh_token_hash(token) != token
    assert len(refresh_token_hash(token)) == 64
    assert new_refresh_token() != token
