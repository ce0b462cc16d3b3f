"""The base of every model of an AWS log record, and the bounded strings of everything Warden stores."""

import hashlib
from functools import partial
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

DIGEST_CHARS = 16


class WireModel(BaseModel):
    """Unknown fields are ignored: AWS adds fields over time and a detector must not break because of it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


def truncated(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters.

    A cut value ends with ``~`` and a digest of the whole value, so that two long values that share
    a prefix (event ids, access key ids) stay distinct after the cut.
    """
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]
    return f"{value[: limit - DIGEST_CHARS - 1]}~{digest}"


Name = Annotated[str, AfterValidator(partial(truncated, limit=256))]
"""An id, a name, an account, a region, a model id: cut at 256 characters when stored."""
Arn = Annotated[str, AfterValidator(partial(truncated, limit=2048))]
"""An ARN: cut at 2048 characters (IAM's own limit) when stored."""
Text = Annotated[str, AfterValidator(partial(truncated, limit=512))]
"""Free text an attacker chooses (a user agent): cut at 512 characters when stored."""
