"""The user service: accounts, login and shelves; its interface, requests, replies, errors, rules.

This module is business logic only: no web framework, no gRPC, no tracing.
Passwords are hashed with scrypt (werkzeug.security) and never kept or
returned in clear; emails are unique in any letter case (stored lower-cased).
A login returns a JWT from the :class:`TokenIssuer` it is given
(``kitcore.auth.JWTIssuer`` in main). Which instance served a call is the
transports' to say (``X-Served-By``, ``x-served-by``), not the accounts'.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from werkzeug.security import check_password_hash, generate_password_hash

from kitcore import validate
from kitcore.errors import AlreadyExists, NotFound, Unauthenticated

NAME_MAX = 100
PASSWORD_MIN, PASSWORD_MAX = 8, 128  # bounded: hashing megabytes would be a cheap attack
LOGIN_PASSWORD_MAX = 1024  # a login checks any length up to this against the hash
_HASH_METHOD = "scrypt"


@dataclass(frozen=True)
class User:
    """An account as others see it: never the password."""

    id: str
    name: str
    email: str


@dataclass(frozen=True)
class CreateUserRequest:
    """Sign up."""

    name: Any
    email: Any
    password: Any


@dataclass(frozen=True)
class GetUserRequest:
    """Ask for one user by id."""

    id: Any


@dataclass(frozen=True)
class LoginRequest:
    """Check a password and get a token."""

    email: Any
    password: Any


@dataclass(frozen=True)
class GetShelfRequest:
    """Ask for the ids of the books on a user's shelf."""

    user_id: Any


@dataclass(frozen=True)
class AddToShelfRequest:
    """Put a book on a user's shelf (idempotent)."""

    user_id: Any
    book_id: Any


@dataclass(frozen=True)
class LoginReply:
    """A bearer token valid for ``expires_in`` seconds."""

    access_token: str
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class ShelfReply:
    """The ids of the books on a user's shelf, in the order they were added."""

    user_id: str
    book_ids: list[str] = field(default_factory=list)


class UserNotFound(NotFound):
    """No user has the id asked for."""


class EmailTaken(AlreadyExists):
    """Another account uses this email already."""


class WrongPassword(Unauthenticated):
    """The email is unknown or the password does not match (the caller is not told which)."""


class TokenIssuer(Protocol):
    """Signs tokens; ``kitcore.auth.JWTIssuer`` is one."""

    ttl: float

    def issue(self, subject: str, claims: Mapping[str, Any] | None = None) -> str:
        """A signed token for ``subject`` carrying ``claims``."""
        ...


class UserService(Protocol):
    """Accounts, as every transport and client sees them."""

    def create_user(self, request: CreateUserRequest) -> User:
        """Sign up; EmailTaken if the email is in use."""
        ...

    def get_user(self, request: GetUserRequest) -> User:
        """One user by id; UserNotFound if there is none."""
        ...

    def login(self, request: LoginRequest) -> LoginReply:
        """A token for the right password; WrongPassword otherwise."""
        ...

    def get_shelf(self, request: GetShelfRequest) -> ShelfReply:
        """The user's shelf; UserNotFound for an unknown user."""
        ...

    def add_to_shelf(self, request: AddToShelfRequest) -> ShelfReply:
        """Put a book on the shelf (twice is once); UserNotFound for an unknown user."""
        ...


class UserRepository(Protocol):
    """Where accounts and shelves are kept (``user.store.UserStore`` over SQL)."""

    def add(self, user: User, password_hash: str) -> bool:
        """Insert an account; False if its email is taken."""
        ...

    def get(self, user_id: str) -> User | None:
        """The account with this id, or None."""
        ...

    def find_by_email(self, email: str) -> tuple[User, str] | None:
        """The account with this (lower-case) email and its password hash, or None."""
        ...

    def shelf(self, user_id: str) -> list[str] | None:
        """The book ids on the user's shelf, oldest first; None for an unknown user."""
        ...

    def add_to_shelf(self, user_id: str, book_id: str) -> list[str] | None:
        """Put a book on the shelf unless it is there; the shelf after, None for an unknown user."""
        ...


class Accounts:
    """The plain implementation of :class:`UserService` over a :class:`UserRepository`."""

    def __init__(self, store: UserRepository, issuer: TokenIssuer) -> None:
        self._store = store
        self._issuer = issuer
        # Compared against when the email is unknown, so that a wrong email
        # takes as long as a wrong password and says nothing about who signed up.
        self._dummy_hash = generate_password_hash("not a password", _HASH_METHOD)

    def create_user(self, request: CreateUserRequest) -> User:
        """Sign up; EmailTaken if the email is in use."""
        user = User(
            id=str(uuid.uuid4()),
            name=validate.text(request.name, "name", max_len=NAME_MAX),
            email=_check_email(request.email),
        )
        password = _check_password(request.password)
        # Checked before hashing (the costly part), so a sign-up retried after a
        # timeout answers 409 at once instead of hashing again; add() still
        # refuses a duplicate that races this check.
        if self._store.find_by_email(user.email) is not None or not self._store.add(
                user, generate_password_hash(password, _HASH_METHOD)):
            raise EmailTaken(f"an account with email {user.email} exists already")
        return user

    def get_user(self, request: GetUserRequest) -> User:
        """One user by id; UserNotFound if there is none."""
        user_id = validate.uuid(request.id, "id")
        user = self._store.get(user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id}")
        return user

    def login(self, request: LoginRequest) -> LoginReply:
        """A token for the right password; WrongPassword otherwise."""
        email = _check_email(request.email)
        password = validate.password_attempt(request.password, max_len=LOGIN_PASSWORD_MAX)
        found = self._store.find_by_email(email)
        password_hash = found[1] if found else self._dummy_hash
        if not check_password_hash(password_hash, password) or found is None:
            raise WrongPassword("wrong email or password")
        user = found[0]
        token = self._issuer.issue(user.id, {"name": user.name})
        return LoginReply(token, int(self._issuer.ttl))

    def get_shelf(self, request: GetShelfRequest) -> ShelfReply:
        """The user's shelf; UserNotFound for an unknown user."""
        user_id = validate.uuid(request.user_id, "user_id")
        book_ids = self._store.shelf(user_id)
        if book_ids is None:
            raise UserNotFound(f"no user with id {user_id}")
        return ShelfReply(user_id, book_ids)

    def add_to_shelf(self, request: AddToShelfRequest) -> ShelfReply:
        """Put a book on the shelf (twice is once); UserNotFound for an unknown user."""
        user_id = validate.uuid(request.user_id, "user_id")
        book_id = validate.uuid(request.book_id, "book_id")
        book_ids = self._store.add_to_shelf(user_id, book_id)
        if book_ids is None:
            raise UserNotFound(f"no user with id {user_id}")
        return ShelfReply(user_id, book_ids)


def _check_email(value: Any) -> str:
    """The address lower-cased: an account's email is unique in any letter case."""
    return validate.email(value).lower()


def _check_password(value: Any) -> str:
    return validate.password(value, min_len=PASSWORD_MIN, max_len=PASSWORD_MAX)
