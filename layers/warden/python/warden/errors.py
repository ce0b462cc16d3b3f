"""Typed errors raised by Warden's domain code and adapters."""


class WardenError(Exception):
    """Base class for Warden's own errors."""


class ConfigurationError(WardenError):
    """The function's environment does not describe a usable configuration."""


class StateConflictError(WardenError):
    """Another invocation updated a detector's state between our read and our write."""


class PublishError(WardenError):
    """EventBridge refused some findings; the invocation must fail so that nothing is lost."""
