"""The synthesised stack, deployed onto moto's server the way CloudFormation would deploy it.

CloudFormation resolves a template's intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, pseudo
parameters) to the physical names it created. A functional test creates the moto resources
itself and names them for the template's logical ids (`Deployment.names`); from that it gets,
with every intrinsic resolved:

- the environment the scoring function and each CodeBuild project see (`environment`), the one
  the EventBridge rule adds to a bulk build (`rule_environment`): never a hand-written dict;
- each role's identity policies (`statements`) and a principal to run code as (`principal`):
  fresh credentials whose every call, as moto's server receives it, tests/aws_calls.py
  attributes to that role and checks against those policies.

Account, region and partition are moto's defaults. A Ref the environment needs but the test did
not name is an error (a new variable in the stack must be given a moto resource); in policies an
unnamed resource keeps its logical id as its name (a log group or an ECR repository moto never
sees), so no call can match it by accident.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.aws_calls import Principal, register

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": "",
}


class Unresolved(AssertionError):
    """An intrinsic the deployment cannot resolve: name the moto resource for it."""


def _arn(type_: str, name: str) -> str:
    """Fn::GetAtt X.Arn, as CloudFormation returns it for the resource types the stack uses."""
    if type_ == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{name}"
    if type_ in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    if type_ == "AWS::Lambda::Function":
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    if type_ == "AWS::Logs::LogGroup":
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
    if type_ == "AWS::CodeBuild::Project":
        return f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{name}"
    if type_ == "AWS::IAM::Role":
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    if type_ in ("AWS::SecretsManager::Secret", "AWS::SNS::Topic", "AWS::KMS::Key"):
        return name  # their Ref is already the ARN
    raise Unresolved(f"no ARN rule for {type_}")


@dataclass
class Deployment:
    """One stack template and the moto names of its resources (logical id -> Ref value)."""

    template: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)
    stack_name: str = "leadgen-dev"

    # ---- finding resources ----------------------------------------------------------------
    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def logical_id(self, type_: str, prefix: str) -> str:
        """The one `type_` resource whose logical id starts with `prefix` (CDK adds a hash)."""
        found = [k for k in self.resources(type_) if k.startswith(prefix)]
        assert len(found) == 1, (type_, prefix, found)
        return found[0]

    @property
    def function_id(self) -> str:
        """The scoring function: the stack's only container-image function."""
        (found,) = [
            k
            for k, v in self.resources("AWS::Lambda::Function").items()
            if v["Properties"].get("PackageType") == "Image"
        ]
        return found

    # ---- intrinsics -----------------------------------------------------------------------
    def resolve(self, value: Any, strict: bool = True) -> Any:
        """`value` with every intrinsic resolved. `strict`: an unnamed logical id is an error."""
        if isinstance(value, list):
            return [self.resolve(v, strict) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {k: self.resolve(v, strict) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self._ref(arg, strict)
        if fn == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._get_att(logical, attr, strict)
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(str(self.resolve(p, strict)) for p in self.resolve(parts, strict))
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            return self._sub(text, self.resolve(variables, strict), strict)
        if fn == "Fn::Select":
            index, items = arg
            return self.resolve(items, strict)[int(index)]
        raise Unresolved(f"intrinsic {fn} is not supported here")

    def _ref(self, name: str, strict: bool) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::StackName":
            return self.stack_name
        if name in self.names:
            return self.names[name]
        if strict or name not in self.template["Resources"]:
            raise Unresolved(f"{name}: no moto resource named for it (Deployment.names)")
        return name

    def _get_att(self, logical: str, attr: str, strict: bool) -> str:
        if attr != "Arn":
            raise Unresolved(f"{logical}.{attr}: only Arn is supported")
        type_ = self.template["Resources"][logical]["Type"]
        return _arn(type_, self._ref(logical, strict))

    def _sub(self, text: str, variables: Mapping[str, Any], strict: bool) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical, attr = name.split(".", 1)
                return self._get_att(logical, attr, strict)
            return self._ref(name, strict)

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    # ---- what a runtime sees ----------------------------------------------------------------
    def _variables(self, logical_id: str) -> list[tuple[str, Any]]:
        """(name, template value) of the variables the stack sets on `logical_id`."""
        props = self.template["Resources"][logical_id]["Properties"]
        if "EnvironmentVariables" in props.get("Environment", {}):  # CodeBuild
            return [(v["Name"], v["Value"]) for v in props["Environment"]["EnvironmentVariables"]]
        return list(props.get("Environment", {}).get("Variables", {}).items())  # Lambda

    def environment(self, logical_id: str) -> dict[str, str]:
        """The variables the stack gives the function or the CodeBuild project `logical_id`."""
        return {name: str(self.resolve(value)) for name, value in self._variables(logical_id)}

    def run_environment(
        self, logical_id: str, endpoint: str, changes: Mapping[str, str | None] = {}
    ) -> dict[str, str]:
        """Everything a run of `logical_id` sees: the stack's variables with a test's `changes`
        (None removes one), what AWS adds, and its role's credentials, checked against the
        resources this environment actually names (`as_configured`)."""
        given = {name: value for name, value in changes.items() if value is not None}
        env = {
            name: str(self.resolve(value))
            for name, value in self._variables(logical_id)
            if name not in changes  # a changed variable need not resolve here
        }
        env.update(given)
        provided = self.as_configured(logical_id, env).provided(logical_id, endpoint)
        return {**env, **provided, **given}  # a test's change wins (a dead endpoint, say)

    def as_configured(self, logical_id: str, environ: Mapping[str, str]) -> Deployment:
        """This deployment, its names read back from `environ` (a run's variables, which a test
        may have pointed at other tables, another bucket, a function it made): each variable
        the stack sets from a Ref names that resource, and an s3:// variable built with
        Fn::Join names the bucket, when its fixed parts match. The role's policies are then
        those CloudFormation would have resolved for a stack of these resources."""
        names = dict(self.names)
        for name, value in self._variables(logical_id):
            given = environ.get(name)
            if not given or not isinstance(value, dict):
                continue
            if set(value) == {"Ref"}:
                names[value["Ref"]] = given
            elif set(value) == {"Fn::Join"}:
                pattern = self._join_pattern(value["Fn::Join"])
                m = re.match(pattern, given) if pattern else None
                names.update(m.groupdict() if m else {})
        return Deployment(self.template, names, self.stack_name)

    def _join_pattern(self, join: list[Any]) -> str | None:
        """A regular expression matching a Fn::Join's value, a named group per Ref in it."""
        sep, parts = join
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(re.escape(part))
            elif set(part) == {"Ref"} and part["Ref"] in self.template["Resources"]:
                out.append(f"(?P<{part['Ref']}>[^/]+)")
            else:
                return None
        return re.escape(sep).join(out) + "(?=/|$)"

    def rule_environment(self, rule_prefix: str, event: Mapping[str, Any]) -> dict[str, str]:
        """The variables a rule's input transformer gives the build it starts for `event`
        (CodeBuild's environmentVariablesOverride), as EventBridge would fill them in."""
        rule = self.template["Resources"][self.logical_id("AWS::Events::Rule", rule_prefix)]
        (target,) = rule["Properties"]["Targets"]
        transformer = target["InputTransformer"]
        text = transformer["InputTemplate"]
        for name, path in transformer["InputPathsMap"].items():
            value: Any = event
            for part in path.removeprefix("$.").split("."):
                value = value[part]
            text = text.replace(f"<{name}>", json.dumps(value))
        overrides = json.loads(text)["environmentVariablesOverride"]
        return {o["name"]: str(o["value"]) for o in overrides}

    def role_of(self, logical_id: str) -> str:
        """The role a function (Role) or a CodeBuild project (ServiceRole) runs as."""
        props = self.template["Resources"][logical_id]["Properties"]
        ref = props.get("Role") or props["ServiceRole"]
        return str(ref["Fn::GetAtt"][0])

    def statements(self, role: str) -> list[dict[str, Any]]:
        """Every statement of the identity policies attached to `role`, intrinsics resolved."""
        out: list[dict[str, Any]] = []
        for res in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role} in res["Properties"]["Roles"]:
                out += self.resolve(res["Properties"]["PolicyDocument"]["Statement"], strict=False)
        inline = self.template["Resources"][role]["Properties"].get("Policies", [])
        for policy in inline:
            out += self.resolve(policy["PolicyDocument"]["Statement"], strict=False)
        return out

    def partition_keys(self) -> dict[str, str]:
        """moto table name -> its partition key attribute (for dynamodb:LeadingKeys)."""
        out = {}
        for logical, res in self.resources("AWS::DynamoDB::Table").items():
            if logical in self.names:
                (hash_key,) = [
                    k["AttributeName"]
                    for k in res["Properties"]["KeySchema"]
                    if k["KeyType"] == "HASH"
                ]
                out[self.names[logical]] = hash_key
        return out

    def provided(self, logical_id: str, endpoint: str) -> dict[str, str]:
        """What AWS adds to the environment of the function or the CodeBuild project
        `logical_id` (region, the function's name, the role's credentials), plus moto's
        endpoints: the rest of what the code running there sees beside `environment`."""
        from tests.conftest import moto_variables

        res = self.template["Resources"][logical_id]
        if res["Type"] == "AWS::Lambda::Function":
            name = self._ref(logical_id, strict=True)
            memory = str(res["Properties"].get("MemorySize", 128))
            runtime = {"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}
        else:
            runtime = {"CODEBUILD_BUILD_ID": f"{logical_id}:{uuid.uuid4()}"}
        return {**moto_variables(endpoint), **runtime, **self.principal(logical_id)}

    def buildspec(self, project: str) -> str:
        """The buildspec CodeBuild runs for `project` (the template carries it inline)."""
        return str(self.template["Resources"][project]["Properties"]["Source"]["BuildSpec"])

    def principal(self, logical_id: str) -> dict[str, str]:
        """Credentials of the role `logical_id` (a function or a project) runs as: every call
        signed with them is checked against that role's policies (tests/aws_calls.py)."""
        role = self.role_of(logical_id)
        key = register(Principal(role, self.statements(role), self.partition_keys()))
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": "role-secret",
            "AWS_SESSION_TOKEN": "role-session",
        }


@contextlib.contextmanager
def running_as(credentials: Mapping[str, str]) -> Iterator[None]:
    """`credentials` in this process's environment for the block, as a new runtime (a cold
    start, a build) has them. boto3's default session keeps the credentials it first read: it is
    dropped before and after, so the code run in the block signs with these, and the test's own
    calls afterwards with the test's."""
    import boto3

    saved = {name: os.environ.get(name) for name in credentials}
    os.environ.update(credentials)
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        boto3.DEFAULT_SESSION = None
