"""Account rules: registering (email unique case-insensitively, argon2id hash,
profile mirror queued in the same transaction) and logging in (one answer for
a wrong email and a wrong password), both throttled per client address and
account before any password is hashed (parley.security.throttle)."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth import passwords
from parley.auth import repository as accounts
from parley.auth.schemas import Login, PasswordChange, Registration, SignedIn
from parley.auth.tokens import Claims, issue_token
from parley.community.profiles import repository as profiles
from parley.community.profiles.schemas import own_profile
from parley.errors import Conflict, Forbidden, Unauthorized
from parley.ids import new_id
from parley.security.sessions import RevocationList
from parley.security.throttle import ClientThrottle
from parley.settings import Settings
from parley.storage.postgres.database import on_commit
from parley.storage.postgres.models import Profile
from parley.storage.postgres.replay_queue import queue_profile_mirror


def _email_taken() -> Conflict:
    return Conflict("An account with this email already exists.", code="EmailTaken")


def _session_for(profile: Profile, settings: Settings) -> SignedIn:
    token = issue_token(
        profile.id, settings.jwt_secret.get_secret_value(), settings.jwt_expiry_seconds
    )
    return SignedIn(token=token, profile=own_profile(profile))


async def register(
    session: AsyncSession, settings: Settings, body: Registration, attempt: ClientThrottle
) -> SignedIn:
    await attempt.before_register()
    if await accounts.select_profile_by_email(session, body.email) is not None:
        raise _email_taken()
    password_hash = await passwords.hash_password(body.password)
    profile = await accounts.insert_profile_if_email_free(
        session, new_id(), body.email, body.name, password_hash
    )
    if profile is None:  # registered concurrently
        raise _email_taken()
    await queue_profile_mirror(session, profile.id)
    return _session_for(profile, settings)


async def login(
    session: AsyncSession, settings: Settings, body: Login, attempt: ClientThrottle
) -> SignedIn:
    email = body.email.strip()
    await attempt.before_login(email)  # before any hashing
    profile = await accounts.select_profile_by_email(session, email)
    stored_hash = profile.password_hash if profile is not None else None
    matches = await passwords.verify_password(stored_hash, body.password)
    if profile is None or not matches:
        await attempt.login_failed(email)
        raise Unauthorized("The email or password is wrong.")
    await attempt.login_succeeded(email)
    if passwords.needs_rehash(profile.password_hash):
        new_hash = await passwords.hash_password(body.password)
        await accounts.update_password_hash(session, profile.id, new_hash)
    return _session_for(profile, settings)


async def logout(session: AsyncSession, revocations: RevocationList, claims: Claims) -> None:
    """Revoke the caller's session (this token), on every instance."""
    await revocations.revoke(session, claims)


async def logout_everywhere(
    session: AsyncSession, settings: Settings, revocations: RevocationList, claims: Claims
) -> None:
    """Revoke every session of the caller's account, this one included."""
    await revocations.revoke_all(session, claims.profile_id, settings.jwt_expiry_seconds)


async def change_password(
    session: AsyncSession,
    settings: Settings,
    revocations: RevocationList,
    throttle: ClientThrottle,
    claims: Claims,
    body: PasswordChange,
) -> SignedIn:
    """Check the current password, store the new one's hash, revoke every
    session of the account and return a fresh token (which survives). Once
    committed, the account's failed logins are forgotten: a lock lifts.

    A wrong current password counts as a failed login of the account and
    against a per-account limit of its own: a stolen token must not be a way
    to guess the password."""
    profile = await profiles.select_profile(session, claims.profile_id)
    if profile is None:
        raise Unauthorized("The account this token belongs to no longer exists.")
    await throttle.before_password_check(profile.email)  # before any hashing
    if not await passwords.verify_password(profile.password_hash, body.current_password):
        await throttle.password_check_failed(profile.email)
        raise Forbidden("The current password is wrong.", code="WrongPassword")
    new_hash = await passwords.hash_password(body.new_password)
    await accounts.update_password_hash(session, profile.id, new_hash)
    await revocations.revoke_all(session, profile.id, settings.jwt_expiry_seconds)
    on_commit(session, partial(throttle.password_changed, profile.email))
    return _session_for(profile, settings)
