"""IAM: remembers when each role was created (for Lambda's "cannot be assumed" window),
bootstraps an administrator's access keys for the deployer, the tests and the demo, and answers
SimulatePrincipalPolicy with the local policy evaluator (`simulate`).

IAM is eventually consistent: a change to a role's permissions (PutRolePolicy, DeleteRolePolicy,
AttachRolePolicy, DetachRolePolicy, PutRolePermissionsBoundary, DeleteRolePermissionsBoundary)
takes effect for the role's sessions `iam_propagation_secs` (clock scaled) after the last change;
until then calls under the role are judged by the permissions it had before the first change of
the window (for a new role: none, so its first calls are denied)."""

import threading
import time
from urllib.parse import parse_qs

from .common import ACCOUNT_ID

ROLE_CHANGES = ("PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
                "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary")
# Role name -> (when the latest change takes effect, (policies, boundary) in force until then).
_pending: dict[str, tuple[float, tuple]] = {}
_pending_lock = threading.Lock()


def in_force(role_name: str, current: tuple) -> tuple:
    """The (policies, boundary) a role's sessions are judged by now: `current`, or what was in
    force before changes that have not propagated yet."""
    with _pending_lock:
        entry = _pending.get(role_name)
        if entry is None or time.monotonic() >= entry[0]:
            _pending.pop(role_name, None)
            return current
        return entry[1]


class Iam:
    def __init__(self, aws):
        self.aws = aws
        self.created: dict[str, float] = {}
        self._admin = None

    def reset(self):
        self.created.clear()
        self._admin = None
        with _pending_lock:
            _pending.clear()

    def before(self, call, environ, body, region):
        if call.operation == "SimulatePrincipalPolicy":
            from .simulate import simulate_principal_policy

            return simulate_principal_policy(environ, body)
        if call.operation in ROLE_CHANGES:
            call.role_before = self.role_permissions(self._role_name(body))
        return None

    @staticmethod
    def _role_name(body: bytes) -> str:
        return (parse_qs(body.decode(errors="replace")).get("RoleName") or [""])[0]

    @staticmethod
    def role_permissions(name: str):
        """(policies, boundary) of role `name` now, or None if it does not exist."""
        from moto.iam.models import iam_backends

        from .auth import role_policies

        backend = iam_backends[ACCOUNT_ID]["global"]
        role = next((r for r in list(backend.roles.values()) if r.name == name), None)
        return None if role is None else role_policies(backend, role)

    def after(self, call, environ, body, region, resp):
        if call.operation == "CreateRole" and resp.status == 200:
            self.created[self._role_name(body)] = time.monotonic()
        before = getattr(call, "role_before", None)
        if call.operation in ROLE_CHANGES and resp.status == 200 and before is not None:
            name = self._role_name(body)
            until = time.monotonic() + self.aws.settings.scaled(self.aws.settings.iam_propagation_secs)
            with _pending_lock:
                entry = _pending.get(name)
                still = entry[1] if entry is not None and time.monotonic() < entry[0] else before
                _pending[name] = (until, still)
        return None

    def assumable(self, role_arn: str) -> bool:
        """False while a role is too new for Lambda to assume, or does not exist."""
        from moto.iam.models import iam_backends

        name = role_arn.rsplit("/", 1)[-1]
        backend = iam_backends[ACCOUNT_ID]["global"]
        if not any(r.name == name for r in backend.roles.values()):
            return False
        created = self.created.get(name)
        window = self.aws.settings.scaled(self.aws.settings.iam_propagation_secs)
        return created is None or time.monotonic() - created >= window

    def admin_credentials(self) -> dict:
        """Access keys of an `admin` user with AdministratorAccess (created once per reset)."""
        from moto.iam.models import iam_backends

        if self._admin is None:
            backend = iam_backends[ACCOUNT_ID]["global"]
            if "localaws-admin" not in backend.users:
                backend.create_user(region_name="us-east-1", user_name="localaws-admin", path="/", tags=[])
                backend.put_user_policy(
                    "localaws-admin", "admin",
                    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
                )
            key = backend.create_access_key("localaws-admin")
            self._admin = {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key}
        return dict(self._admin)
