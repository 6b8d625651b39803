"""Who is who: the roles of app.yaml, and the checks every service makes before acting."""

from __future__ import annotations

from enum import StrEnum

from bot.errors import NotAllowed
from bot.settings import Roles


class Role(StrEnum):
    AGENT = "agent"
    COORDINATOR = "coordinator"
    SPOKESPERSON = "spokesperson"
    BACKUP_SPOKESPERSON = "backup_spokesperson"
    EXPERT = "expert"
    MANAGER = "manager"


APPROVERS = (Role.SPOKESPERSON, Role.BACKUP_SPOKESPERSON, Role.MANAGER)
"""Who may approve, edit or reject a sensitive reply (the manager is the last rung of the ladder)."""
LEADS = (Role.COORDINATOR, Role.MANAGER)
"""Who may assign cases to others and take them over."""


class Team:
    """The roles from app.yaml. With no roles configured at all, everyone is an agent (a team of one)."""

    def __init__(self, roles: Roles) -> None:
        self.roles = roles
        self._members: dict[Role, frozenset[str]] = {
            Role.AGENT: frozenset(roles.agents),
            Role.COORDINATOR: frozenset(roles.coordinators),
            Role.SPOKESPERSON: frozenset(roles.spokespersons),
            Role.BACKUP_SPOKESPERSON: frozenset(roles.backup_spokespersons),
            Role.EXPERT: frozenset(u for users in roles.experts.values() for u in users),
            Role.MANAGER: frozenset(roles.managers),
        }
        self.open = not any(self._members.values())

    def roles_of(self, user: str) -> set[Role]:
        """Every role `user` has."""
        return {role for role, members in self._members.items() if user in members}

    def is_member(self, user: str) -> bool:
        """Whether `user` works on cases: any role (experts included) or an open team."""
        return self.open or bool(self.roles_of(user))

    def has(self, user: str, *roles: Role) -> bool:
        """Whether `user` has one of `roles`."""
        return bool(self.roles_of(user) & set(roles))

    def require_member(self, user: str, *, action: str) -> None:
        """Refuse people outside the team (NotAllowed, with the action for the audit)."""
        if not self.is_member(user):
            raise NotAllowed(action=action, role="team", user=user)

    def require(self, user: str, *roles: Role, action: str) -> None:
        """Refuse `user` unless they have one of `roles`."""
        if not self.has(user, *roles):
            raise NotAllowed(action=action, role="/".join(r.value for r in roles), user=user)

    def members(self, role: Role) -> list[str]:
        """The users with `role`, in app.yaml order."""
        source = {
            Role.AGENT: self.roles.agents,
            Role.COORDINATOR: self.roles.coordinators,
            Role.SPOKESPERSON: self.roles.spokespersons,
            Role.BACKUP_SPOKESPERSON: self.roles.backup_spokespersons,
            Role.MANAGER: self.roles.managers,
        }.get(role)
        if source is None:
            return sorted(self._members[role])
        return list(source)

    def experts_for(self, topics: list[str] | None) -> tuple[str | None, list[str]]:
        """The first of `topics` that has experts, and those experts (else no topic, no one)."""
        for topic in topics or []:
            experts = self.roles.experts.get(topic)
            if experts:
                return topic, list(experts)
        return None, []
