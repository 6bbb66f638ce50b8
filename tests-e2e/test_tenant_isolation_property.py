"""Tenant isolation as a property: in any small world of customer tenants, no tenant ever
sees a trace of another one (API.md: "404 NOT_FOUND — unknown id, or an id of another
tenant"; customer admins hold `audit:read` for their own org only).

Hypothesis generates a world: 2–4 customer organizations, each with 0–4 users of random
customer roles, random (unicode) names and random e-mail addresses — some of them the same
address as a user of another tenant (one e-mail may exist in several orgs) — some of them
updated (PUT) and some deactivated (DELETE), by the provider's super admin (fixture `api`)
or by the tenant's own admin, so every tenant has its own audit trail with several actors.

Then every tenant T, acting through minted tokens (support.TokenMinter: a customer `admin`
of T, and one reader role without `users:read`/`audit:read`), walks every list and get
route of identity, organization and audit it can reach, aiming filters and ids at the
other tenants and at the provider org. The raw text of every answer is searched for every
foreign needle: the other tenants' organization ids, user ids, e-mails and acting
subjects/sessions, those of every tenant generated earlier in the run, and the provider
org's id and users (the acting super admin's own id excepted: it is the legitimate actor
of T's own audit entries). The only text not searched is an error envelope's `path`, which
echoes the caller's own request. Completeness keeps it from passing vacuously: T's lists
hold exactly T's users (ids, e-mails, roles, statuses, names, `meta.total`) and T's audit
log holds every entry its users' creation, update and deactivation produced (audit is fed
by events, so it is polled until they are there).

`test_report_exploration` (last in the file) prints the tenants × objects explored.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support import CUSTOMER_ROLE_NAMES, Minted, TokenMinter, eventually

# Drawn worlds; with the explicit SHARED_CHAIN the property builds and checks 20.
MAX_EXAMPLES = 19
# 20 worlds ran past the default 120 s per test in scripts/test on a loaded 2-core machine
# (load average ~10): a timeout there is no finding (Hypothesis reports it as flaky).
PROPERTY_TIMEOUT_S = 480
RATE_LIMIT_DEADLINE_S = 30.0
MAX_RETRY_AFTER_S = 5.0
AUDIT_DEADLINE_S = 20.0
PROVIDER_PAGES = 5
READER_ROLES = ("report_viewer", "request_user", "basic_user")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

# Totals over the run, printed by test_report_exploration.
EXPLORED: Counter[str] = Counter()


# --- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPlan:
    role: str
    first_name: str
    last_name: str
    local_part: str
    domain: str
    # (tenant, user) index of an earlier user of another tenant whose address this one reuses.
    same_email_as: tuple[int, int] | None
    created_by_tenant: bool
    update: dict[str, str] | None
    deactivate: bool
    changed_by_tenant: bool


@dataclass(frozen=True)
class WorldPlan:
    tenants: tuple[tuple[UserPlan, ...], ...]
    reader_role: str


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=20,
).filter(lambda name: name.strip() != "")
local_parts = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,7}([._+-][A-Za-z0-9]{1,5})?", fullmatch=True)
roles = st.sampled_from(CUSTOMER_ROLE_NAMES)
updates = st.fixed_dictionaries(
    {}, optional={"firstName": names, "lastName": names, "role": roles}
).filter(bool)


def _address_owner(tenants: list[tuple[UserPlan, ...]], user: tuple[int, int]) -> tuple[int, int]:
    """The user whose fresh address `user` has: itself, or the one it (transitively) reuses."""
    t, u = user
    same = tenants[t][u].same_email_as
    return user if same is None else _address_owner(tenants, same)


@st.composite
def worlds(draw: st.DrawFn) -> WorldPlan:
    tenant_count = draw(st.integers(min_value=2, max_value=4))
    tenants: list[tuple[UserPlan, ...]] = []
    for tenant in range(tenant_count):
        # One candidate per address: a user reusing an address reused already (tenant 2
        # taking it from both tenant 0 and tenant 1, who took it from tenant 0) would put
        # the same address twice into one org, which identity rightly refuses with 409.
        earlier: dict[tuple[int, int], tuple[int, int]] = {}
        for t in range(tenant):
            for u in range(len(tenants[t])):
                earlier.setdefault(_address_owner(tenants, (t, u)), (t, u))
        users: list[UserPlan] = []
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            reuse = earlier and draw(st.integers(0, 4)) == 0
            same = draw(st.sampled_from(sorted(earlier.values()))) if reuse else None
            if same is not None:
                del earlier[_address_owner(tenants, same)]  # once per org, whoever has it
            users.append(
                UserPlan(
                    role=draw(roles),
                    first_name=draw(names),
                    last_name=draw(names),
                    local_part=draw(local_parts),
                    domain=draw(st.sampled_from(DOMAINS)),
                    same_email_as=same,
                    created_by_tenant=draw(st.booleans()),
                    update=draw(st.none() | updates),
                    deactivate=draw(st.booleans()),
                    changed_by_tenant=draw(st.booleans()),
                )
            )
        tenants.append(tuple(users))
    return WorldPlan(tenants=tuple(tenants), reader_role=draw(st.sampled_from(READER_ROLES)))


def plan_addresses(plan: WorldPlan) -> list[list[tuple[int, int]]]:
    """Per tenant, the owner of each of its users' addresses (`_address_owner`)."""
    tenants = list(plan.tenants)
    return [
        [_address_owner(tenants, (t, u)) for u in range(len(users))]
        for t, users in enumerate(tenants)
    ]


def _user(same_email_as: tuple[int, int] | None = None) -> UserPlan:
    return UserPlan(
        role="basic_user",
        first_name="Ann",
        last_name="Example",
        local_part="ann",
        domain="example.com",
        same_email_as=same_email_as,
        created_by_tenant=False,
        update=None,
        deactivate=False,
        changed_by_tenant=False,
    )


# Always explored, whatever Hypothesis draws: one address in three tenants, the third
# taking it from the second (which took it from the first), beside a fresh one.
SHARED_CHAIN = WorldPlan(
    tenants=((_user(),), (_user((0, 0)), _user()), (_user((1, 0)), _user((1, 1)))),
    reader_role="basic_user",
)


# --- what was built ---------------------------------------------------------------------------


@dataclass
class BuiltUser:
    id: str
    email: str
    role: str
    first_name: str
    last_name: str
    status: str
    actions: set[str] = field(default_factory=lambda: {"user.created"})


@dataclass
class Tenant:
    org_id: str
    admin: Minted  # acts during the setup (and so appears in the tenant's audit trail)
    users: list[BuiltUser] = field(default_factory=list)

    def needles(self) -> dict[str, str]:
        """Every string that identifies this tenant, with what it is."""
        found = {
            self.org_id: f"organizationId of tenant {self.org_id}",
            self.admin.sub: f"acting admin (sub) of tenant {self.org_id}",
            self.admin.sid: f"acting admin session of tenant {self.org_id}",
        }
        for user in self.users:
            found[user.id] = f"user id {user.id} of tenant {self.org_id}"
            found[user.email] = f"email {user.email} of tenant {self.org_id}"
        return found


@dataclass
class Leak:
    request: str
    status: int
    needle: str
    what: str
    excerpt: str

    def __str__(self) -> str:
        return (
            f"{self.request} -> {self.status} shows {self.what} ({self.needle!r}): "
            f"...{self.excerpt}..."
        )


# Needles of the tenants of earlier examples: still foreign to every later tenant.
HISTORY: dict[str, str] = {}


# --- requests ---------------------------------------------------------------------------------


def send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    json: Any = None,
) -> httpx.Response:
    """One request; a 429 is retried after its Retry-After (capped) for a while."""
    deadline = time.monotonic() + RATE_LIMIT_DEADLINE_S
    while True:
        response = client.request(method, path, headers=headers, params=params, json=json)
        EXPLORED["requests"] += 1
        if response.status_code != 429 or time.monotonic() > deadline:
            return response
        EXPLORED["rate_limited_retries"] += 1
        try:
            wait = float(response.headers.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        time.sleep(min(max(wait, 0.1), MAX_RETRY_AFTER_S))


def data_of(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{_describe(response)}: {response.text[:500]}"
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def _describe(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.raw_path.decode()}"


class Viewer:
    """One minted caller of tenant T, scanning every answer for foreign needles."""

    def __init__(self, gateway: httpx.Client, token: Minted, foreign: dict[str, str]) -> None:
        self.gateway = gateway
        self.headers = token.headers
        self.foreign = foreign
        self.leaks: list[Leak] = []

    def get(self, path: str, **params: Any) -> httpx.Response:
        response = send(self.gateway, "GET", path, headers=self.headers, params=params or None)
        self.scan(response)
        return response

    def scan(self, response: httpx.Response) -> None:
        text = response.text
        if response.status_code >= 400:
            body = response.json()
            assert body.get("success") is False, response.text
            echoed = body.get("path")
            # The error envelope echoes the caller's own request path: not a disclosure.
            if echoed is not None:
                assert echoed == response.request.url.path, body
                text = text.replace(echoed, "")
        lowered = text.lower()
        EXPLORED["responses_scanned"] += 1
        EXPLORED["needle_checks"] += len(self.foreign)
        for needle, what in self.foreign.items():
            at = lowered.find(needle)
            if at >= 0:
                excerpt = text[max(0, at - 120) : at + len(needle) + 120]
                self.leaks.append(
                    Leak(_describe(response), response.status_code, needle, what, excerpt)
                )

    def assert_no_leak(self) -> None:
        assert not self.leaks, "foreign data visible:\n" + "\n".join(map(str, self.leaks[:20]))


def assert_status(response: httpx.Response, *allowed: int) -> None:
    assert response.status_code in allowed, (
        f"{_describe(response)} -> {response.status_code}, expected {allowed}: "
        f"{response.text[:500]}"
    )


def assert_empty_list(response: httpx.Response) -> None:
    rows = data_of(response)
    assert rows == [], f"{_describe(response)} returned foreign rows: {response.text[:800]}"


def assert_not_found(response: httpx.Response) -> None:
    assert_status(response, 404)
    assert response.json()["code"] == "NOT_FOUND", response.text


def audit_rows(viewer: Viewer, **params: Any) -> list[dict[str, Any]]:
    """Every audit entry the viewer gets for these filters (cursor pagination)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        response = viewer.get("/api/audit/logs", **query)
        body = response.json()
        rows.extend(data_of(response))
        cursor = body["meta"]["nextCursor"]
        if not cursor:
            break
    return rows


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider_needles(api: httpx.Client, provider_org_id: str, admin_user_id: str) -> dict[str, str]:
    """The provider org's id and its users' ids and e-mails (first pages), but the acting
    super admin's id: it is the actor of every tenant's creation, in the tenant's own log."""
    found = {provider_org_id: f"provider organizationId {provider_org_id}"}
    for page in range(1, PROVIDER_PAGES + 1):
        response = send(
            api,
            "GET",
            "/api/users",
            params={"orgId": provider_org_id, "limit": 100, "page": page},
        )
        body = response.json()
        for user in data_of(response):
            if user["id"] != admin_user_id:
                found[user["id"]] = f"provider user id {user['id']}"
                found[user["email"]] = f"provider user email {user['email']}"
        if page >= body["meta"]["totalPages"]:
            break
    return found


# --- building a world ------------------------------------------------------------------------


def _create_org(api: httpx.Client) -> str:
    response = send(
        api, "POST", "/api/organizations", json={"name": f"e2e-iso-{uuid.uuid4().hex[:12]}"}
    )
    org: dict[str, Any] = data_of(response, 201)
    assert org["type"] == "customer", org
    return str(org["id"])


def _create_user(
    gateway: httpx.Client, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    # At once, into an organization created a moment ago (identity asks its owner).
    created = send(gateway, "POST", "/api/users", headers=headers, json=body)
    user: dict[str, Any] = data_of(created, 201)
    return user


def build_world(
    plan: WorldPlan, api: httpx.Client, gateway: httpx.Client, minter: TokenMinter
) -> list[Tenant]:
    super_admin = dict(api.headers)
    tenants = [
        Tenant(org_id=org_id, admin=minter.customer(org_id, "admin"))
        for org_id in (_create_org(api) for _ in plan.tenants)
    ]
    for tenant, users in zip(tenants, plan.tenants, strict=True):
        for user in users:
            if user.same_email_as is None:
                address = f"{user.local_part}.{uuid.uuid4().hex[:10]}@{user.domain}"
            else:
                t, u = user.same_email_as
                address = tenants[t].users[u].email
            body = {
                "email": address,
                "firstName": user.first_name,
                "lastName": user.last_name,
                "role": user.role,
            }
            if user.created_by_tenant:  # a customer admin invites into its own org
                created = _create_user(gateway, tenant.admin.headers, body)
            else:
                created = _create_user(
                    gateway, super_admin, {**body, "organizationId": tenant.org_id}
                )
            assert created["organizationId"] == tenant.org_id, created
            assert created["email"] == address.lower(), created
            tenant.users.append(
                BuiltUser(
                    id=created["id"],
                    email=created["email"],
                    role=user.role,
                    first_name=user.first_name.strip(),
                    last_name=user.last_name.strip(),
                    status=created["status"],
                )
            )
    for tenant, users in zip(tenants, plan.tenants, strict=True):
        for built, user in zip(tenant.users, users, strict=True):
            headers = tenant.admin.headers if user.changed_by_tenant else super_admin
            if user.update is not None:
                _apply_update(gateway, headers, built, user.update)
            if user.deactivate:
                gone = send(gateway, "DELETE", f"/api/users/{built.id}", headers=headers)
                assert_status(gone, 200, 204)
                built.status = "inactive"
                built.actions.add("user.deleted")
                EXPLORED["deactivations"] += 1
    return tenants


def _apply_update(
    gateway: httpx.Client, headers: dict[str, str], built: BuiltUser, update: dict[str, str]
) -> None:
    before = (built.first_name, built.last_name, built.role)
    built.first_name = update.get("firstName", built.first_name).strip()
    built.last_name = update.get("lastName", built.last_name).strip()
    built.role = update.get("role", built.role)
    response = send(gateway, "PUT", f"/api/users/{built.id}", headers=headers, json=update)
    updated = data_of(response)
    assert (updated["firstName"], updated["lastName"], updated["role"]) == (
        built.first_name,
        built.last_name,
        built.role,
    ), updated
    if before != (built.first_name, built.last_name, built.role):
        built.actions.add("user.updated")
    EXPLORED["updates"] += 1


# --- what one tenant may see ----------------------------------------------------------------


def check_identity(viewer: Viewer, me: Tenant, others: list[Tenant], provider_org_id: str) -> None:
    own = {user.id: user for user in me.users}

    # The user list, flat and nested: exactly T's users, as they are now.
    for path in ("/api/users", f"/api/organizations/{me.org_id}/users"):
        response = viewer.get(path, limit=100)
        rows = data_of(response)
        assert response.json()["meta"]["total"] == len(own), response.text[:800]
        assert {row["id"] for row in rows} == set(own), response.text[:800]
        for row in rows:
            user = own[row["id"]]
            assert row["organizationId"] == me.org_id, row
            assert (row["email"], row["role"], row["firstName"], row["lastName"]) == (
                user.email,
                user.role,
                user.first_name,
                user.last_name,
            ), row
            assert row["status"] == user.status, row
    EXPLORED["own_rows_verified"] += 2 * len(own)
    for user in me.users:
        assert data_of(viewer.get(f"/api/users/{user.id}"))["id"] == user.id

    # A search matching every tenant's addresses still answers T's users only.
    for needle in {"example", "@", "."}:
        rows = data_of(viewer.get("/api/users", q=needle, limit=100))
        assert {row["id"] for row in rows} <= set(own), rows
        assert {u.id for u in me.users if needle in u.email} <= {row["id"] for row in rows}

    for other in others:
        # Filtered on the other org: empty, whatever else is asked.
        response = viewer.get("/api/users", orgId=other.org_id, limit=100)
        assert_empty_list(response)
        assert response.json()["meta"]["total"] == 0, response.text
        assert_empty_list(viewer.get("/api/users", orgId=other.org_id, role="admin"))
        assert_status(viewer.get(f"/api/organizations/{other.org_id}/users"), 403, 404)
        for user in other.users:
            EXPLORED["foreign_users_probed"] += 1
            assert_not_found(viewer.get(f"/api/users/{user.id}"))
            # Searching another tenant's address finds T's own user of that address only.
            rows = data_of(viewer.get("/api/users", q=user.email.upper(), limit=100))
            expected = {u.id for u in me.users if user.email in u.email}
            assert {row["id"] for row in rows} == expected, rows
            assert_empty_list(viewer.get("/api/users", q=user.email, orgId=other.org_id))
    assert_empty_list(viewer.get("/api/users", orgId=provider_org_id, limit=100))
    assert_status(viewer.get(f"/api/organizations/{provider_org_id}/users"), 403, 404)


def check_organizations(viewer: Viewer, me: Tenant, others: list[Tenant], provider: str) -> None:
    # A customer admin lacks organizations:read: refused (403), for its own org too.
    assert_status(viewer.get("/api/organizations", limit=100), 403)
    for org_id in [me.org_id, provider, *(other.org_id for other in others)]:
        for path in (f"/api/organizations/{org_id}", f"/api/organizations/{org_id}/settings"):
            response = viewer.get(path)
            assert response.status_code != 200, f"GET {path} served: {response.text[:500]}"
            assert_status(response, 403)


def check_audit(
    viewer: Viewer, me: Tenant, others: list[Tenant], provider_org_id: str, super_admin_id: str
) -> None:
    # Audit is fed by events: wait for every entry T's history produced.
    expected = {(me.org_id, "organization.created")}
    expected |= {(user.id, action) for user in me.users for action in user.actions}
    for attempt in eventually(AUDIT_DEADLINE_S, 0.2):
        with attempt:
            rows = audit_rows(viewer)
            seen = {(row["resourceId"], row["action"]) for row in rows}
            assert expected <= seen, f"not audited yet: {sorted(expected - seen)}"
    assert {row["organizationId"] for row in rows} == {me.org_id}, rows
    assert len({row["id"] for row in rows}) == len(rows)
    EXPLORED["own_audit_entries_verified"] += len(rows)
    # The actors of T's history filter to T's entries only.
    actors = {super_admin_id} | {row["userId"] for row in rows if row["userId"]}
    for actor in actors:
        mine = audit_rows(viewer, userId=actor)
        assert mine, f"no entry of actor {actor}"
        assert {row["organizationId"] for row in mine} == {me.org_id}, mine
    for user in me.users:
        assert audit_rows(viewer, resourceId=user.id), f"own user {user.id} not in the log"

    verified = data_of(viewer.get("/api/audit/verify", orgId=me.org_id))
    assert verified["valid"] is True, verified
    assert data_of(viewer.get("/api/audit/verify"))["valid"] is True

    for other in others:
        assert audit_rows(viewer, orgId=other.org_id) == []
        assert audit_rows(viewer, orgId=other.org_id, action="user.created") == []
        assert audit_rows(viewer, resourceId=other.org_id) == []
        assert audit_rows(viewer, userId=other.admin.sub) == []
        assert_empty_list(viewer.get("/api/audit/events", aggregateId=other.org_id))
        assert_not_found(viewer.get("/api/audit/verify", orgId=other.org_id))
        for user in other.users:
            assert audit_rows(viewer, resourceId=user.id) == []
            assert audit_rows(viewer, userId=user.id) == []
            assert_empty_list(viewer.get("/api/audit/events", aggregateId=user.id))
    assert audit_rows(viewer, orgId=provider_org_id) == []
    assert_not_found(viewer.get("/api/audit/verify", orgId=provider_org_id))

    # Own aggregates do have their events (the empty answers above are not route failures).
    for aggregate in [me.org_id, *(user.id for user in me.users)]:
        events = data_of(viewer.get("/api/audit/events", aggregateId=aggregate))
        assert events, f"no event of own aggregate {aggregate}"
        assert {item["organizationId"] for item in events} == {me.org_id}, events


def check_reader(viewer: Viewer, me: Tenant, others: list[Tenant], provider: str) -> None:
    """A role without users:read and audit:read is refused everywhere, never served."""
    assert_status(viewer.get("/api/users", limit=100), 403)
    assert_status(viewer.get("/api/audit/logs"), 403)
    for other in others:
        assert_status(viewer.get("/api/users", orgId=other.org_id), 403)
        assert_status(viewer.get(f"/api/organizations/{other.org_id}/users"), 403, 404)
        assert_status(viewer.get(f"/api/organizations/{other.org_id}"), 403)
        assert_status(viewer.get("/api/audit/logs", orgId=other.org_id), 403)
        assert_status(viewer.get("/api/audit/events", aggregateId=other.org_id), 403)
        assert_status(viewer.get("/api/audit/verify", orgId=other.org_id), 403, 404)
        for user in other.users[:1]:
            assert_status(viewer.get(f"/api/users/{user.id}"), 403, 404)
    assert_status(viewer.get("/api/audit/logs", orgId=provider), 403)


def _foreign_needles(
    me: Tenant, world: Iterable[Tenant], provider: dict[str, str]
) -> dict[str, str]:
    foreign = {**HISTORY, **provider}
    for other in world:
        if other is not me:
            foreign.update(other.needles())
    own = set(me.needles())  # an address T's user shares with another tenant is T's too
    return {needle.lower(): what for needle, what in foreign.items() if needle not in own}


# --- the property ----------------------------------------------------------------------------


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.timeout(PROPERTY_TIMEOUT_S)
@example(plan=SHARED_CHAIN)
@given(plan=worlds())
def test_no_tenant_ever_sees_another_tenant(
    plan: WorldPlan,
    api: httpx.Client,
    gateway: httpx.Client,
    minter: TokenMinter,
    provider_org_id: str,
    admin_user_id: str,
    provider_needles: dict[str, str],
) -> None:
    tenants = build_world(plan, api, gateway, minter)
    EXPLORED["worlds"] += 1
    EXPLORED["tenants"] += len(tenants)
    EXPLORED["users"] += sum(len(t.users) for t in tenants)
    EXPLORED["shared_emails"] += sum(
        1 for users in plan.tenants for user in users if user.same_email_as
    )
    event(f"tenants={len(tenants)}")
    event(f"users={sum(len(t.users) for t in tenants)}")

    viewers: list[Viewer] = []
    for me in tenants:
        others = [other for other in tenants if other is not me]
        foreign = _foreign_needles(me, tenants, provider_needles)
        # Fresh subjects per area: each has its own per-user rate-limit bucket.
        identity = Viewer(gateway, minter.customer(me.org_id, "admin"), foreign)
        auditor = Viewer(gateway, minter.customer(me.org_id, "admin"), foreign)
        reader = Viewer(gateway, minter.customer(me.org_id, plan.reader_role), foreign)
        viewers += [identity, auditor, reader]
        check_identity(identity, me, others, provider_org_id)
        check_organizations(identity, me, others, provider_org_id)
        check_audit(auditor, me, others, provider_org_id, admin_user_id)
        check_reader(reader, me, others, provider_org_id)
        for viewer in (identity, auditor, reader):
            viewer.assert_no_leak()
    for tenant in tenants:
        HISTORY.update(tenant.needles())


@settings(max_examples=100, deadline=None)
@given(plan=worlds())
def test_the_world_generator_never_puts_one_address_twice_into_an_org(plan: WorldPlan) -> None:
    """No request: the plans themselves. A duplicate would be identity's 409 mid-build,
    and the example database would replay it on every run."""
    for owners in plan_addresses(plan):
        assert len(owners) == len(set(owners)), plan
    EXPLORED["plans_checked"] += 1
    EXPLORED["plans_with_shared_emails"] += any(
        user.same_email_as for users in plan.tenants for user in users
    )


def test_report_exploration(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints what the property explored (runs after it: the file's order)."""
    if not EXPLORED["worlds"]:
        pytest.skip("the property test did not run in this session")
    objects = EXPLORED["users"] + EXPLORED["tenants"]
    with capsys.disabled():
        print(
            f"\n[tenant isolation] {EXPLORED['worlds']} worlds, {EXPLORED['tenants']} tenants "
            f"x {objects} objects ({EXPLORED['tenants']} orgs + {EXPLORED['users']} users, "
            f"{EXPLORED['updates']} updates, {EXPLORED['deactivations']} deactivations, "
            f"{EXPLORED['shared_emails']} shared e-mails); "
            f"{EXPLORED['foreign_users_probed']} foreign user probes, "
            f"{EXPLORED['own_rows_verified']} own rows and "
            f"{EXPLORED['own_audit_entries_verified']} own audit entries verified; "
            f"{EXPLORED['responses_scanned']} responses scanned against "
            f"{EXPLORED['needle_checks']} foreign needles; {EXPLORED['requests']} requests, "
            f"{EXPLORED['rate_limited_retries']} 429 retries"
        )
    assert EXPLORED["tenants"] >= 2 * EXPLORED["worlds"]
    # Not vacuous: every world was built and checked (a world that failed to build fails
    # the property, never skips it), and shared addresses were among them (SHARED_CHAIN).
    assert EXPLORED["worlds"] >= MAX_EXAMPLES // 2, EXPLORED
    assert EXPLORED["shared_emails"] >= 3, EXPLORED
