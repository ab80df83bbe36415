"""The users routes' JSON: ``GET /asana/api/users`` and ``PUT /asana/api/users/{gid}/mapping``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from asana_integration.mapping.matching import Method

UserStatus = Literal["mapped", "unmatched", "deactivated"]

# A SecureDB user id as identity.py accepts one from the JWT: the mapping names a user the claims could name.
SecureDbUserId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@|-]{0,127}$",
        description="The SecureDB user id (the JWT's user claim)",
        examples=["u-1842"],
    ),
]


class UserMappingView(BaseModel):
    securedb_user_id: str
    method: Method = Field(description="connection: their own Asana connection; email: same email; manual: an admin")
    set_by: str | None = Field(default=None, description="The admin who set a manual mapping")
    set_at: str | None = None


class AsanaUserView(BaseModel):
    gid: str
    name: str | None = None
    email: str | None = Field(default=None, description="Absent when Asana does not show it to the token in use")
    status: UserStatus = Field(description="deactivated: gone from every workspace; else mapped or unmatched")
    deactivated_at: str | None = None
    mapping: UserMappingView | None = None


class StatusCounts(BaseModel):
    mapped: int = 0
    unmatched: int = 0
    deactivated: int = 0


class SecureDbUserView(BaseModel):
    """A SecureDB user who has signed in: the people an admin can map to."""

    id: str
    email: str
    name: str | None = None
    last_seen_at: str


class UsersPage(BaseModel):
    data: list[AsanaUserView]
    next_offset: str | None = Field(description="Pass as offset for the next page; null on the last one")
    counts: StatusCounts = Field(description="Over all mirrored users of the organization, whatever the filter")
    securedb_users: list[SecureDbUserView] | None = Field(
        default=None, description="On the first page only: SecureDB users who have signed in"
    )


class MappingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    securedb_user_id: SecureDbUserId | None = Field(
        description="The SecureDB user this Asana user is, or null to clear the manual mapping (matching applies)"
    )
