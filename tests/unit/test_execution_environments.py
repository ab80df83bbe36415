"""Each execution environment keeps its own services (and their caches): one per process on AWS, one per function in
local mode, where every function shares a process (``local/gateway/runtime.py`` names the function per invocation)."""

from __future__ import annotations

import threading

from asana_integration.web.dependencies import EXECUTION_ENVIRONMENT, get_services


def services_in(environment: str) -> object:
    found: list[object] = []

    def run() -> None:
        EXECUTION_ENVIRONMENT.set(environment)
        found.append(get_services())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found[0]


def test_each_function_gets_services_of_its_own_and_keeps_them(aws):
    settings, callback = services_in("SettingsFunction"), services_in("OAuthCallbackFunction")

    assert settings is not callback
    assert services_in("SettingsFunction") is settings
    assert services_in("OAuthCallbackFunction") is callback


def test_without_a_name_a_process_is_one_execution_environment(aws):
    assert get_services() is get_services()
    assert get_services() is not services_in("SettingsFunction")
