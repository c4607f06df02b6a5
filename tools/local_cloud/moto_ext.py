"""moto's server, extended with the few AWS APIs our Terraform calls and moto 5.2.5 lacks.

Runs inside .venv-moto (requirements/moto.txt pins moto), never in a deploy: it is the local cloud
of `make tf-e2e`. Each gap below was met applying terraform/ with hashicorp/aws 5.100; the extension
implements the AWS behaviour (as documented in the API references) rather than relaxing our
configuration or its assertions:

| API | moto 5.2.5 | here |
|---|---|---|
| apigatewayv2 Create/Get/GetAll/Update/DeleteDeployment | 404 (no route) | deployments kept per API; CreateDeployment with StageName points that stage at it |
| apigatewayv2 Stage `deploymentId`, UpdateStage | not stored / not implemented | stored, returned, PATCH updates every documented field |
| apigatewayv2 GetAuthorizers, GetRouteResponses (read back by the checks) | not implemented | listed from what moto stores |
| apigatewayv2 `apiEndpoint` of a WEBSOCKET API | `https://...` | `wss://{api}.execute-api.{region}.amazonaws.com`, as AWS |
| lambda Put/GetFunctionRecursionConfig | not implemented | stored per function (default `Terminate`, as AWS) |

    python tools/local_cloud/moto_ext.py --host 127.0.0.1 --port 0

prints `READY http://127.0.0.1:<port>` once it accepts connections, and exits when its standard input
closes, so a harness that dies (even by SIGKILL) never leaves the server behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import datetime
from typing import Any
from urllib.parse import unquote

# AWS managed policies (AmazonAPIGatewayPushToCloudWatchLogs) exist in moto only with this set.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.apigatewayv2 import urls as apigatewayv2_urls  # noqa: E402
from moto.apigatewayv2.exceptions import APIGatewayV2Error  # noqa: E402
from moto.apigatewayv2.models import Api, Stage  # noqa: E402
from moto.apigatewayv2.responses import ApiGatewayV2Response  # noqa: E402
from moto.awslambda import urls as lambda_urls  # noqa: E402
from moto.awslambda.models import LambdaFunction  # noqa: E402
from moto.awslambda.responses import LambdaResponse  # noqa: E402
from moto.core.exceptions import JsonRESTError  # noqa: E402
from moto.core.utils import iso_8601_datetime_without_milliseconds  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402

TYPE_RESPONSE = tuple[int, dict[str, Any], str]


class DeploymentNotFound(APIGatewayV2Error):
    code = 404

    def __init__(self, deployment_id: str):
        super().__init__("NotFoundException", f"Invalid Deployment identifier specified {deployment_id}")


# ---- API Gateway v2: deployments and the stage's deploymentId ---------------------------------------

class Deployment:
    def __init__(self, description: str | None):
        self.deployment_id = "".join(mock_random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
        self.description = description
        self.created = datetime.now()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "deploymentId": self.deployment_id,
            "deploymentStatus": "DEPLOYED",
            "autoDeployed": False,
            "createdDate": iso_8601_datetime_without_milliseconds(self.created),
        }
        if self.description:
            body["description"] = self.description
        return body


def _deployments(api: Api) -> dict[str, Deployment]:
    if not hasattr(api, "ext_deployments"):
        api.ext_deployments = {}  # type: ignore[attr-defined]
    return api.ext_deployments  # type: ignore[attr-defined]


def _deployment(api: Api, deployment_id: str) -> Deployment:
    try:
        return _deployments(api)[deployment_id]
    except KeyError:
        raise DeploymentNotFound(deployment_id) from None


_api_init = Api.__init__


def _api_init_with_wss(self: Api, *args: Any, **kwargs: Any) -> None:
    _api_init(self, *args, **kwargs)
    if self.protocol_type == "WEBSOCKET":
        self.api_endpoint = self.api_endpoint.replace("https://", "wss://", 1)


_STAGE_FIELDS = {
    "accessLogSettings": "access_log_settings",
    "autoDeploy": "auto_deploy",
    "clientCertificateId": "client_certificate_id",
    "defaultRouteSettings": "default_route_settings",
    "description": "description",
    "routeSettings": "route_settings",
    "stageVariables": "stage_variables",
}

_stage_init = Stage.__init__
_stage_to_json = Stage.to_json


def _stage_init_with_deployment(self: Stage, api: Api, config: dict[str, Any]) -> None:
    _stage_init(self, api, config)
    self.deployment_id = config.get("deploymentId")  # type: ignore[attr-defined]


def _stage_to_json_with_deployment(self: Stage) -> dict[str, Any]:
    body = _stage_to_json(self)
    if getattr(self, "deployment_id", None):
        body["deploymentId"] = self.deployment_id  # type: ignore[attr-defined]
    return body


class DeploymentResponses:
    """Methods mixed into moto's ApiGatewayV2Response (moto dispatches on botocore's operation name)."""

    def _api(self: Any) -> Api:
        return self.apigatewayv2_backend.get_api(self.path.split("/")[3])

    def create_deployment(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        params = json.loads(self.body or "{}")
        deployment = Deployment(params.get("description"))
        _deployments(api)[deployment.deployment_id] = deployment
        if params.get("stageName"):
            stage = api.get_stage(params["stageName"])
            stage.deployment_id = deployment.deployment_id
            stage.updated = datetime.now()
        return 201, {}, json.dumps(deployment.to_json())

    def get_deployment(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        return 200, {}, json.dumps(_deployment(api, self.path.split("/")[-1]).to_json())

    def get_deployments(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        return 200, {}, json.dumps({"items": [d.to_json() for d in _deployments(api).values()]})

    def update_deployment(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        deployment = _deployment(api, self.path.split("/")[-1])
        params = json.loads(self.body or "{}")
        if "description" in params:
            deployment.description = params["description"]
        return 200, {}, json.dumps(deployment.to_json())

    def delete_deployment(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        _deployment(api, self.path.split("/")[-1])
        del _deployments(api)[self.path.split("/")[-1]]
        return 204, {}, ""

    def get_authorizers(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        return 200, {}, json.dumps({"items": [a.to_json() for a in api.authorizers.values()]})

    def get_route_responses(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        route = api.get_route(self.path.split("/")[-2])
        return 200, {}, json.dumps({"items": [r.to_json() for r in route.route_responses.values()]})

    def update_stage(self: Any) -> TYPE_RESPONSE:
        api = DeploymentResponses._api(self)
        stage = api.get_stage(unquote(self.path.split("/")[-1]))
        params = json.loads(self.body or "{}")
        for field, attribute in _STAGE_FIELDS.items():
            if field in params:
                setattr(stage, attribute, params[field])
        if "deploymentId" in params:
            _deployment(api, params["deploymentId"])
            stage.deployment_id = params["deploymentId"]
        stage.updated = datetime.now()
        return 200, {}, json.dumps(stage.to_json())


# ---- Lambda: the recursion config ---------------------------------------------

_function_init = LambdaFunction.__init__


def _function_init_with_recursion_config(self: LambdaFunction, account_id: str, spec: dict[str, Any], region: str,
                                         version: str | int = 1) -> None:
    _function_init(self, account_id, spec, region, version)
    self.recursive_loop = "Terminate"  # type: ignore[attr-defined]


class RecursionResponses:
    """Put/GetFunctionRecursionConfig (PUT/GET /2024-08-31/functions/{name}/recursion-config)."""

    def _function(self: Any) -> LambdaFunction:
        name = unquote(self.path.split("/")[-2])
        return self.backend.get_function(name)

    def put_function_recursion_config(self: Any) -> TYPE_RESPONSE:
        function = RecursionResponses._function(self)
        loop = json.loads(self.body or "{}").get("RecursiveLoop")
        if loop not in ("Allow", "Terminate"):
            raise JsonRESTError("InvalidParameterValueException", f"RecursiveLoop must be Allow or Terminate, got {loop!r}")
        function.recursive_loop = loop
        return 200, {}, json.dumps({"RecursiveLoop": loop})

    def get_function_recursion_config(self: Any) -> TYPE_RESPONSE:
        function = RecursionResponses._function(self)
        return 200, {}, json.dumps({"RecursiveLoop": getattr(function, "recursive_loop", "Terminate")})


def install() -> None:
    """Applies every extension to the imported moto (idempotent)."""
    if getattr(ApiGatewayV2Response, "_wschat_ext", False):
        return
    apigatewayv2_urls.url_paths.update({
        "{0}/v2/apis/(?P<api_id>[^/]+)/deployments$": ApiGatewayV2Response.dispatch,
        "{0}/v2/apis/(?P<api_id>[^/]+)/deployments/(?P<deployment_id>[^/]+)$": ApiGatewayV2Response.dispatch,
    })
    for name in ("create_deployment", "get_deployment", "get_deployments", "update_deployment",
                 "delete_deployment", "get_authorizers", "get_route_responses", "update_stage"):
        setattr(ApiGatewayV2Response, name, getattr(DeploymentResponses, name))
    Api.__init__ = _api_init_with_wss  # type: ignore[method-assign]
    Stage.__init__ = _stage_init_with_deployment  # type: ignore[method-assign]
    Stage.to_json = _stage_to_json_with_deployment  # type: ignore[method-assign]

    lambda_urls.url_paths[
        r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/recursion-config/?$"
    ] = LambdaResponse.dispatch
    for name in ("put_function_recursion_config", "get_function_recursion_config"):
        setattr(LambdaResponse, name, getattr(RecursionResponses, name))
    LambdaFunction.__init__ = _function_init_with_recursion_config  # type: ignore[method-assign]
    ApiGatewayV2Response._wschat_ext = True  # type: ignore[attr-defined]


def _exit_when_stdin_closes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port chosen by the OS")
    parser.add_argument("--no-stdin-watch", action="store_true", help="keep running when stdin closes")
    args = parser.parse_args(argv)

    install()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True)
    if not args.no_stdin_watch:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    print(f"READY http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
