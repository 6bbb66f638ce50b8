"""Users, sessions and the organization directory in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, func, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope, UnitOfWork
from mss_db.pages import fetch_page
from mss_db.scope import in_scope
from mss_identity.adapters.tables import (
    ApiKeyRow,
    OrgDirectoryRow,
    RefreshTokenRow,
    UserRow,
    UserSessionRow,
    UserTokenRow,
)
from mss_identity.domain.api_keys import ApiKey
from mss_identity.domain.errors import EmailTaken
from mss_identity.domain.user_tokens import TokenPurpose
from mss_identity.domain.users import OrgRef, Session, User, UserStatus, lock_duration


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        org_id=row.org_id,
        email=row.email,
        password_hash=row.password_hash,
        first_name=row.first_name,
        last_name=row.last_name,
        role=Role(row.role),
        status=UserStatus(row.status),
        mfa_enabled=row.mfa_enabled,
        email_verified=row.email_verified,
        last_login_at=row.last_login_at,
        last_login_ip=str(row.last_login_ip) if row.last_login_ip is not None else None,
        failed_login_attempts=row.failed_login_attempts,
        locked_until=row.locked_until,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@dataclass(frozen=True, slots=True)
class MfaState:
    secret: str | None
    enabled: bool
    backup_hashes: list[str]
    last_step: int


def _session(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        org_id=row.org_id,
        status=row.status,
        ip_address=str(row.ip_address) if row.ip_address is not None else None,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
    )


@dataclass(frozen=True, slots=True)
class UserFilter:
    """List filters; `scope` repeats the RLS scope as an explicit condition."""

    scope: OrgScope
    org_id: UUID | None = None
    role: Role | None = None
    status: UserStatus | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumedToken:
    user_id: UUID
    org_id: UUID
    purpose: TokenPurpose


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _org(row: Row[Any]) -> OrgRef:
    settings = row.settings or {}
    idle, absolute = settings.get("sessionIdleMinutes"), settings.get("sessionAbsoluteHours")
    return OrgRef(
        id=row.id,
        name=row.name,
        type=OrganizationType(row.type),
        status=row.status,
        mfa_required=bool(settings.get("mfaRequired", False)),
        session_idle=timedelta(minutes=idle) if isinstance(idle, int) else None,
        session_absolute=timedelta(hours=absolute) if isinstance(absolute, int) else None,
    )


ORG_DIRECTORY = "org_directory"


class IdentityRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._orgs = uow.projection(ORG_DIRECTORY)

    # --- organizations (projection) ---------------------------------------------------

    async def org(self, org_id: UUID) -> OrgRef | None:
        """The organization as the directory holds it. One the directory lacks, or holds
        as not active, is asked of the organization service first (at most once per id
        every few seconds), so an organization created or reactivated a moment ago is
        already known; 503 when it lacks the org and the owner cannot be asked."""
        return await self._orgs.find(
            org_id, lambda: self._directory_org(org_id), accept=lambda org: org.active
        )

    async def _directory_org(self, org_id: UUID) -> OrgRef | None:
        row = (
            await self._conn.execute(
                select(OrgDirectoryRow).where(col(OrgDirectoryRow.id) == org_id)
            )
        ).first()
        return _org(row) if row else None

    async def org_version(self, org_id: UUID) -> int | None:
        """The version of the organization's state the directory holds."""
        return (
            await self._conn.execute(
                select(col(OrgDirectoryRow.version)).where(col(OrgDirectoryRow.id) == org_id)
            )
        ).scalar_one_or_none()

    async def upsert_org(
        self,
        *,
        org_id: UUID,
        name: str,
        type: str,
        status: str,
        settings: dict[str, Any],
        version: int,
    ) -> bool:
        """Apply an organization's state only if newer than what we hold (True if so): the
        directory's one write, for events and fetched records alike."""
        values = {
            "id": org_id,
            "name": name,
            "type": type,
            "status": status,
            "settings": settings,
            "version": version,
        }
        statement = insert(OrgDirectoryRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[col(OrgDirectoryRow.id)],
            set_={k: statement.excluded[k] for k in values if k != "id"},
            where=col(OrgDirectoryRow.version) < statement.excluded.version,
        )
        applied = await self._conn.execute(statement.returning(col(OrgDirectoryRow.id)))
        return applied.first() is not None

    # --- users ----------------------------------------------------------------------------

    async def user(self, user_id: UUID) -> User | None:
        row = (await self._conn.execute(select(UserRow).where(col(UserRow.id) == user_id))).first()
        return _user(row) if row else None

    async def users_by_email(self, email: str) -> list[User]:
        rows = (
            await self._conn.execute(
                select(UserRow)
                .where(func.lower(col(UserRow.email)) == email)
                .order_by(col(UserRow.created_at))
            )
        ).all()
        return [_user(row) for row in rows]

    async def add_user(self, user: User, *, created_by: UUID | None) -> None:
        """Insert the user; EmailTaken when the org already has this email (unique key)."""
        try:
            await self._insert_user(user, created_by=created_by)
        except IntegrityError as exc:
            raise EmailTaken(user.email) from exc

    async def _insert_user(self, user: User, *, created_by: UUID | None) -> None:
        await self._conn.execute(
            insert(UserRow).values(
                id=user.id,
                org_id=user.org_id,
                email=user.email,
                password_hash=user.password_hash,
                first_name=user.first_name,
                last_name=user.last_name,
                role=user.role.value,
                status=user.status.value,
                mfa_enabled=user.mfa_enabled,
                email_verified=user.email_verified,
                failed_login_attempts=0,
                mfa_last_step=0,
                version=user.version,
                created_at=user.created_at,
                updated_at=user.updated_at,
                created_by=created_by,
            )
        )

    async def list_users(
        self, where: UserFilter, *, offset: int, limit: int
    ) -> tuple[list[User], int]:
        conditions: list[ColumnElement[bool]] = [in_scope(col(UserRow.org_id), where.scope)]
        if where.org_id is not None:
            conditions.append(col(UserRow.org_id) == where.org_id)
        if where.role is not None:
            conditions.append(col(UserRow.role) == where.role.value)
        if where.status is not None:
            conditions.append(col(UserRow.status) == where.status.value)
        if where.q:
            pattern = _like(where.q.strip())
            conditions.append(
                or_(
                    col(UserRow.email).ilike(pattern, escape="\\"),
                    col(UserRow.first_name).ilike(pattern, escape="\\"),
                    col(UserRow.last_name).ilike(pattern, escape="\\"),
                    func.concat(col(UserRow.first_name), " ", col(UserRow.last_name)).ilike(
                        pattern, escape="\\"
                    ),
                )
            )
        rows, total = await fetch_page(
            self._conn,
            select(UserRow)
            .where(*conditions)
            .order_by(col(UserRow.created_at).desc(), col(UserRow.id)),
            offset=offset,
            limit=limit,
        )
        return [_user(row) for row in rows], total

    async def email_taken(self, org_id: UUID, email: str) -> bool:
        row = (
            await self._conn.execute(
                select(col(UserRow.id)).where(
                    col(UserRow.org_id) == org_id, func.lower(col(UserRow.email)) == email
                )
            )
        ).first()
        return row is not None

    async def locked_user(self, user_id: UUID) -> User | None:
        """The user, locked for the rest of the transaction (read-modify-write)."""
        row = (
            await self._conn.execute(
                select(UserRow).where(col(UserRow.id) == user_id).with_for_update()
            )
        ).first()
        return _user(row) if row else None

    async def change_user(self, user_id: UUID, now: datetime, **values: Any) -> User:
        """Apply the changes, bump the version, and return the user as it is now."""
        row = (
            await self._conn.execute(
                update(UserRow)
                .where(col(UserRow.id) == user_id)
                .values(**values, version=col(UserRow.version) + 1, updated_at=now)
                .returning(*UserRow.__table__.c)
            )
        ).one()
        return _user(row)

    async def record_login(self, user_id: UUID, *, at: datetime, ip: str | None) -> None:
        await self._conn.execute(
            update(UserRow)
            .where(col(UserRow.id) == user_id)
            .values(last_login_at=at, last_login_ip=ip, failed_login_attempts=0, locked_until=None)
        )

    # --- sessions -------------------------------------------------------------------------

    async def add_session(
        self,
        *,
        session_id: UUID,
        user: User,
        refresh_hash: str,
        ip: str | None,
        user_agent: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self._conn.execute(
            insert(UserSessionRow).values(
                id=session_id,
                user_id=user.id,
                org_id=user.org_id,
                refresh_token_hash=refresh_hash,
                ip_address=ip,
                user_agent=(user_agent or "")[:1000] or None,
                status="active",
                expires_at=expires_at,
                last_used_at=now,
                created_at=now,
            )
        )

    async def fail_login(self, user_id: UUID, now: datetime) -> tuple[int, datetime | None]:
        """Count a failure; lock the account once the threshold is reached."""
        attempts = (
            await self._conn.execute(
                update(UserRow)
                .where(col(UserRow.id) == user_id)
                .values(
                    failed_login_attempts=col(UserRow.failed_login_attempts) + 1, updated_at=now
                )
                .returning(col(UserRow.failed_login_attempts))
            )
        ).scalar_one()
        duration = lock_duration(attempts)
        locked_until = now + duration if duration else None
        if locked_until is not None:
            await self._conn.execute(
                update(UserRow).where(col(UserRow.id) == user_id).values(locked_until=locked_until)
            )
        return attempts, locked_until

    async def unlock(self, user_id: UUID, now: datetime) -> bool:
        result = await self._conn.execute(
            update(UserRow)
            .where(col(UserRow.id) == user_id)
            .values(failed_login_attempts=0, locked_until=None, updated_at=now)
            .returning(col(UserRow.id))
        )
        return result.first() is not None

    # --- refresh tokens and session life ----------------------------------------------------

    async def add_refresh_token(
        self, *, token_hash: str, session_id: UUID, org_id: UUID, now: datetime
    ) -> None:
        await self._conn.execute(
            insert(RefreshTokenRow).values(
                token_hash=token_hash, session_id=session_id, org_id=org_id, created_at=now
            )
        )

    async def refresh_token(self, token_hash: str) -> tuple[UUID, datetime | None] | None:
        """(session id, rotated at) of a refresh token we issued, locked for the rotation."""
        row = (
            await self._conn.execute(
                select(col(RefreshTokenRow.session_id), col(RefreshTokenRow.rotated_at))
                .where(col(RefreshTokenRow.token_hash) == token_hash)
                .with_for_update()
            )
        ).first()
        return (row.session_id, row.rotated_at) if row else None

    async def rotate_refresh_token(self, token_hash: str, now: datetime) -> None:
        await self._conn.execute(
            update(RefreshTokenRow)
            .where(col(RefreshTokenRow.token_hash) == token_hash)
            .values(rotated_at=now)
        )

    async def session(self, session_id: UUID) -> Session | None:
        row = (
            await self._conn.execute(
                select(UserSessionRow).where(col(UserSessionRow.id) == session_id).with_for_update()
            )
        ).first()
        return _session(row) if row else None

    async def sessions_of(self, user_id: UUID) -> list[Session]:
        rows = (
            await self._conn.execute(
                select(UserSessionRow)
                .where(
                    col(UserSessionRow.user_id) == user_id, col(UserSessionRow.status) == "active"
                )
                .order_by(col(UserSessionRow.created_at).desc())
            )
        ).all()
        return [_session(row) for row in rows]

    async def touch_session(self, session_id: UUID, *, refresh_hash: str, now: datetime) -> None:
        await self._conn.execute(
            update(UserSessionRow)
            .where(col(UserSessionRow.id) == session_id)
            .values(refresh_token_hash=refresh_hash, last_used_at=now)
        )

    async def revoke_sessions(
        self,
        *,
        reason: str,
        now: datetime,
        session_id: UUID | None = None,
        user_id: UUID | None = None,
        org_id: UUID | None = None,
    ) -> list[tuple[UUID, UUID, UUID]]:
        """Revoke the matching active sessions; returns (session, user, org) of each."""
        conditions = [col(UserSessionRow.status) == "active"]
        if session_id is not None:
            conditions.append(col(UserSessionRow.id) == session_id)
        if user_id is not None:
            conditions.append(col(UserSessionRow.user_id) == user_id)
        if org_id is not None:
            conditions.append(col(UserSessionRow.org_id) == org_id)
        rows = (
            await self._conn.execute(
                update(UserSessionRow)
                .where(*conditions)
                .values(status="revoked", revoked_at=now, revoked_reason=reason[:255])
                .returning(
                    col(UserSessionRow.id), col(UserSessionRow.user_id), col(UserSessionRow.org_id)
                )
            )
        ).all()
        return [(row.id, row.user_id, row.org_id) for row in rows]

    # --- MFA ----------------------------------------------------------------------------------

    async def mfa_state(self, user_id: UUID) -> MfaState | None:
        row = (
            await self._conn.execute(
                select(
                    col(UserRow.mfa_secret),
                    col(UserRow.mfa_enabled),
                    col(UserRow.mfa_backup_codes),
                    col(UserRow.mfa_last_step),
                )
                .where(col(UserRow.id) == user_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return MfaState(
            secret=row.mfa_secret,
            enabled=row.mfa_enabled,
            backup_hashes=list(row.mfa_backup_codes or []),
            last_step=row.mfa_last_step,
        )

    async def save_mfa(self, user_id: UUID, state: MfaState, now: datetime) -> None:
        await self._conn.execute(
            update(UserRow)
            .where(col(UserRow.id) == user_id)
            .values(
                mfa_secret=state.secret,
                mfa_enabled=state.enabled,
                mfa_backup_codes=state.backup_hashes,
                mfa_last_step=state.last_step,
                updated_at=now,
            )
        )

    async def set_password(self, user_id: UUID, password_hash: str, now: datetime) -> None:
        await self._conn.execute(
            update(UserRow)
            .where(col(UserRow.id) == user_id)
            .values(password_hash=password_hash, updated_at=now)
        )

    # --- single-use user tokens -----------------------------------------------------------

    async def add_user_token(
        self,
        *,
        token_hash: str,
        user: User,
        purpose: TokenPurpose,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        await self._conn.execute(
            insert(UserTokenRow).values(
                token_hash=token_hash,
                user_id=user.id,
                org_id=user.org_id,
                purpose=purpose.value,
                expires_at=expires_at,
                created_at=now,
            )
        )

    async def usable_user_token(
        self, token_hash: str, purposes: frozenset[TokenPurpose], now: datetime
    ) -> ConsumedToken | None:
        """An unused, unexpired token of one of these purposes, locked until commit."""
        row = (
            await self._conn.execute(
                select(
                    col(UserTokenRow.user_id), col(UserTokenRow.org_id), col(UserTokenRow.purpose)
                )
                .where(
                    col(UserTokenRow.token_hash) == token_hash,
                    col(UserTokenRow.purpose).in_(sorted(p.value for p in purposes)),
                    col(UserTokenRow.used_at).is_(None),
                    col(UserTokenRow.expires_at) > now,
                )
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return ConsumedToken(
            user_id=row.user_id, org_id=row.org_id, purpose=TokenPurpose(row.purpose)
        )

    async def use_user_tokens(
        self,
        user_id: UUID,
        now: datetime,
        purposes: frozenset[TokenPurpose] | None = None,
    ) -> int:
        """Mark the user's outstanding tokens (of these purposes, or all) as used."""
        conditions = [col(UserTokenRow.user_id) == user_id, col(UserTokenRow.used_at).is_(None)]
        if purposes is not None:
            conditions.append(col(UserTokenRow.purpose).in_(sorted(p.value for p in purposes)))
        result = await self._conn.execute(
            update(UserTokenRow)
            .where(*conditions)
            .values(used_at=now)
            .returning(col(UserTokenRow.token_hash))
        )
        return len(result.all())


# --- API keys (integrations) ----------------------------------------------------------------


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        prefix=row.key_prefix,
        permissions=tuple(row.permissions),
        created_by=row.created_by,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


_API_KEY_FIELDS = [c for c in ApiKeyRow.__table__.c if c.name != "key_hash"]


class ApiKeyRepository:
    """The hash is written once and only ever matched, never read back."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(self, key: ApiKey, *, key_hash: str) -> None:
        await self._conn.execute(
            insert(ApiKeyRow).values(
                id=key.id,
                org_id=key.org_id,
                name=key.name,
                key_prefix=key.prefix,
                key_hash=key_hash,
                permissions=list(key.permissions),
                created_by=key.created_by,
                created_at=key.created_at,
            )
        )

    async def list_keys(self, org_id: UUID | None) -> list[ApiKey]:
        query = select(*_API_KEY_FIELDS).order_by(col(ApiKeyRow.created_at), col(ApiKeyRow.id))
        if org_id is not None:
            query = query.where(col(ApiKeyRow.org_id) == org_id)
        return [_api_key(row) for row in (await self._conn.execute(query)).all()]

    async def revoke(self, key_id: UUID, now: datetime) -> tuple[ApiKey, bool] | None:
        """The key and whether this call revoked it (revoking twice keeps the first time);
        None when no such key exists."""
        row = (
            await self._conn.execute(
                select(*_API_KEY_FIELDS).where(col(ApiKeyRow.id) == key_id).with_for_update()
            )
        ).first()
        if row is None:
            return None
        if row.revoked_at is not None:
            return _api_key(row), False
        revoked = (
            await self._conn.execute(
                update(ApiKeyRow)
                .where(col(ApiKeyRow.id) == key_id)
                .values(revoked_at=now)
                .returning(*_API_KEY_FIELDS)
            )
        ).one()
        return _api_key(revoked), True

    async def live(self, key_hash: str) -> ApiKey | None:
        row = (
            await self._conn.execute(
                select(*_API_KEY_FIELDS).where(
                    col(ApiKeyRow.key_hash) == key_hash, col(ApiKeyRow.revoked_at).is_(None)
                )
            )
        ).first()
        return _api_key(row) if row else None

    async def mark_used(self, key_id: UUID, now: datetime) -> None:
        await self._conn.execute(
            update(ApiKeyRow).where(col(ApiKeyRow.id) == key_id).values(last_used_at=now)
        )
