"""IAM: remembers when each role was created (for Lambda's "cannot be assumed" window),
bootstraps an administrator's access keys for the deployer, the tests and the demo, and answers
SimulatePrincipalPolicy with the local policy evaluator (`simulate`)."""

import time

from .common import ACCOUNT_ID


class Iam:
    def __init__(self, aws):
        self.aws = aws
        self.created: dict[str, float] = {}
        self._admin = None

    def reset(self):
        self.created.clear()
        self._admin = None

    def before(self, call, environ, body, region):
        if call.operation == "SimulatePrincipalPolicy":
            from .simulate import simulate_principal_policy

            return simulate_principal_policy(environ, body)
        return None

    def after(self, call, environ, body, region, resp):
        if call.operation == "CreateRole" and resp.status == 200:
            from urllib.parse import parse_qs

            name = (parse_qs(body.decode()).get("RoleName") or [""])[0]
            self.created[name] = time.monotonic()
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
