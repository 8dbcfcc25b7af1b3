"""API shapes of registration and login."""

from __future__ import annotations

from parley.community.profiles.schemas import OwnProfile
from parley.fields import ApiModel, Email, LoginText, Name, NewPassword


class Registration(ApiModel):
    email: Email
    password: NewPassword
    name: Name


class Login(ApiModel):
    email: LoginText
    password: LoginText


class SignedIn(ApiModel):
    """A bearer token and the profile it belongs to."""

    token: str
    profile: OwnProfile


class PasswordChange(ApiModel):
    current_password: LoginText
    new_password: NewPassword
