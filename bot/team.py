"""Who is who: the roles of app.yaml, and the checks every service makes before acting."""

from __future__ import annotations

from enum import StrEnum

from bot.errors import NotAllowed
from bot.settings import Roles, TeamsRoles


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
    """The roles from app.yaml. With no roles configured at all, everyone is an agent (a team of one).

    A role may list Slack user groups (`S…` ids) beside users: the chat transport tells the team
    who is in each group (`set_group`), and from then on every check and every message expands it.
    """

    def __init__(self, roles: Roles | TeamsRoles) -> None:
        self.roles = roles
        self._groups: dict[str, tuple[str, ...]] = {}
        self._configured: dict[Role, tuple[str, ...]] = {
            Role.AGENT: tuple(roles.agents),
            Role.COORDINATOR: tuple(roles.coordinators),
            Role.SPOKESPERSON: tuple(roles.spokespersons),
            Role.BACKUP_SPOKESPERSON: tuple(roles.backup_spokespersons),
            Role.EXPERT: tuple(u for users in roles.experts.values() for u in users),
            Role.MANAGER: tuple(roles.managers),
        }
        self.open = not any(self._configured.values())
        self._members = self._expand_all()

    def group_ids(self) -> set[str]:
        """Every user group named in the roles."""
        return {i for ids in self._configured.values() for i in ids if i.startswith("S")}

    def set_group(self, group: str, members: list[str]) -> None:
        """Who is in a user group now (from the chat transport)."""
        self._groups[group] = tuple(members)
        self._members = self._expand_all()

    def _expand(self, ids: tuple[str, ...] | list[str]) -> list[str]:
        out: list[str] = []
        for i in ids:
            for user in self._groups.get(i, ()) if i.startswith("S") else (i,):
                if user not in out:
                    out.append(user)
        return out

    def _expand_all(self) -> dict[Role, frozenset[str]]:
        return {role: frozenset(self._expand(ids)) for role, ids in self._configured.items()}

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
        """The users with `role`, in app.yaml order (user groups expanded)."""
        return self._expand(self._configured[role])

    def experts_for(self, topics: list[str] | None) -> tuple[str | None, list[str]]:
        """The first of `topics` that has experts, and those experts (else no topic, no one)."""
        for topic in topics or []:
            experts = self._expand(self.roles.experts.get(topic, []))
            if experts:
                return topic, experts
        return None, []
