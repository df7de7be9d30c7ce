"""Typed errors. `KnownError` is something a person can fix (wrong password, bad file,
portal down): the UI and CLI show its message. Anything else is a bug."""

from __future__ import annotations


class KnownError(Exception):
    """A user-fixable problem with a one-line, PHI-free message."""


class VaultError(KnownError):
    pass


class VaultNotFound(VaultError):
    pass


class VaultExists(VaultError):
    pass


class VaultTooNew(VaultError):
    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"this vault has schema version {found}, newer than this OffHold supports "
            f"(version {supported}); upgrade OffHold before opening it"
        )
        self.found = found
        self.supported = supported


class VaultCorrupt(VaultError):
    pass


class InsecureVault(VaultError):
    pass


class AuthError(KnownError):
    pass


class WrongPassword(AuthError):
    def __init__(self, message: str = "wrong user name or password") -> None:
        super().__init__(message)


class LockedOut(AuthError):
    pass


class MfaRequired(AuthError):
    def __init__(self) -> None:
        super().__init__("a TOTP code is required for this user")


class WrongMfaCode(AuthError):
    def __init__(self) -> None:
        super().__init__("wrong TOTP code")


class PermissionDenied(KnownError):
    def __init__(self, user: str, action: str) -> None:
        super().__init__(f"user {user!r} may not {action}")
        self.user = user
        self.action = action


class NotFound(KnownError):
    pass


class ValidationError(KnownError):
    pass


class InvalidTransition(KnownError):
    def __init__(self, task_id: int, state: str, target: str) -> None:
        super().__init__(f"task {task_id} cannot go from {state} to {target}")
        self.task_id = task_id
        self.state = state
        self.target = target


class NoKeyringBackend(KnownError):
    def __init__(self) -> None:
        super().__init__(
            "no OS keyring backend is available on this machine, so unattended mode is off"
        )


class ImportRejected(KnownError):
    """A file import was refused; nothing was written. `position` names where."""

    def __init__(self, reason: str, position: str = "") -> None:
        super().__init__(f"{reason} (at {position})" if position else reason)
        self.reason = reason
        self.position = position
