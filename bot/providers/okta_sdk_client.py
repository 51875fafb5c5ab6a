"""A slim `okta.client.Client`: only the SDK's API classes the Okta adapter calls.

`okta.client` (SDK 3.4.6) imports all 116 generated `*Api` classes, and through them ~1,000 of
the ~1,800 pydantic models: in the web process (which must stay under 150 MB resident) the
adapter then added 78 MB and 1,440 modules. The models are otherwise loaded lazily
(`okta.models.__getattr__`): with the five API classes below it adds 31 MB and 390 modules.

`SlimOktaClient` is built like `Client` is: the same SDK classes (`ConfigSetter`,
`ConfigValidator`, the generated API classes over `ApiClient`, `RequestExecutor`, the caches,
`setup_logging`), and the operations are the SDK's own methods, inherited unchanged. So
headers, the user agent, OAuth (private key), proxy and TLS settings, the `httpClient` class,
config from `okta.yaml` / `OKTA_CLIENT_*` variables and error handling are those of `Client`.
`tests/integration/test_okta_sdk_client.py` checks the two against each other.

Import this module lazily: it still loads a good part of the SDK (~0.7 s, against 2+ s).
"""

from __future__ import annotations

import logging
from typing import Any

from okta.api.group_api import GroupApi
from okta.api.role_assignment_a_user_api import RoleAssignmentAUserApi
from okta.api.user_api import UserApi
from okta.api.user_lifecycle_api import UserLifecycleApi
from okta.api.user_resources_api import UserResourcesApi
from okta.api.user_sessions_api import UserSessionsApi
from okta.cache.no_op_cache import NoOpCache
from okta.cache.okta_cache import OktaCache
from okta.config.config_setter import ConfigSetter
from okta.config.config_validator import ConfigValidator
from okta.logger import setup_logging
from okta.request_executor import RequestExecutor

# The adapter's operations, by the API class that defines them. A new operation in the adapter
# needs its class here (the test above fails otherwise).
API_CLASSES: dict[type, tuple[str, ...]] = {
    UserApi: ("get_user", "list_users"),
    UserResourcesApi: ("list_user_groups",),
    GroupApi: ("list_groups", "list_group_users", "assign_user_to_group", "unassign_user_from_group"),
    UserLifecycleApi: ("suspend_user", "unsuspend_user", "deactivate_user"),
    UserSessionsApi: ("revoke_user_sessions",),
    RoleAssignmentAUserApi: ("list_assigned_roles_for_user",),
}


class SlimOktaClient(UserApi, UserResourcesApi, GroupApi, UserLifecycleApi, UserSessionsApi, RoleAssignmentAUserApi):
    """`okta.client.Client` with six API classes instead of all of them.

    `__init__` is `Client.__init__` (3.4.6) step for step, less the attributes only `Client`'s
    own getters read (`_client_id`, `_scopes`, `_private_key`, ...)."""

    def __init__(self, user_config: dict[str, Any]) -> None:
        setter = ConfigSetter()  # type: ignore[no-untyped-call]
        setter._apply_config({"client": user_config})
        self._config = setter._prune_config(setter.get_config())  # type: ignore[no-untyped-call]
        ConfigValidator(self._config)  # type: ignore[no-untyped-call]
        super().__init__(configuration=self._config)  # the API classes' chain to ApiClient.__init__

        client = self._config["client"]
        self._authorization_mode = client["authorizationMode"]
        self._base_url = client["orgUrl"]
        self._api_token = client.get("token")

        cache: Any = NoOpCache()  # type: ignore[no-untyped-call]
        if client["cache"]["enabled"] is True:
            cache = user_config.get("cacheManager")
            if cache is None:
                cache = OktaCache(client["cache"]["defaultTtl"], client["cache"]["defaultTti"])  # type: ignore[no-untyped-call]
        executor_class = user_config.get("requestExecutor", RequestExecutor)
        self._request_executor = executor_class(self._config, cache, user_config.get("httpClient"))

        setup_logging(log_level=client["logging"]["logLevel"])  # type: ignore[no-untyped-call]
        if client["logging"]["enabled"] is True:
            logging.getLogger("okta-sdk-python").disabled = False

    def get_request_executor(self) -> Any:
        return self._request_executor
