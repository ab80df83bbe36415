"""The in-process Lambda runtime's guarantees: environments from the template, one process environment, isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local.gateway.environment import (
    EnvironmentConflict,
    function_environments,
    lambda_log_level,
    merged_environment,
    process_environment,
)
from local.gateway.runtime import STACK_NAME, FunctionHost
from local.template import TemplateError, functions, load_template
from tests.local.conftest import mini_template

# Every resource of the template has a stand-in (a function's variables may name any table or queue); the ones the
# assertions below read have recognisable values.
_STAND_INS = {
    reference: f"local-{name}"
    for name in load_template()["Resources"]
    for reference in (name, f"{name}.Arn", f"{name}.QueueName")
}
LOCAL_REFERENCES = {
    **_STAND_INS,
    "IntegrationTable": "local-table",
    "IntegrationKey.Arn": "arn:aws:kms:us-east-1:123456789012:key/k",
    "PublicBaseUrl": "http://127.0.0.1:3000",
    "AllowedTenantHosts": "127.0.0.1:3000,localhost:3000",
    "AsanaApiBaseUrl": "http://127.0.0.1:3010/api/1.0",
    "AsanaOAuthBaseUrl": "http://127.0.0.1:3010/-",
}


def test_every_function_gets_the_templates_variables_resolved_locally() -> None:
    environments = function_environments(LOCAL_REFERENCES)
    assert set(environments) == {spec.logical_id for spec in functions()}
    for variables in environments.values():
        assert variables["TABLE_NAME"] == "local-table"
        assert variables["KMS_KEY_ID"].startswith("arn:aws:kms:")
        assert variables["PUBLIC_BASE_URL"] == "http://127.0.0.1:3000"
        assert variables["ASANA_API_BASE_URL"] == "http://127.0.0.1:3010/api/1.0"
        assert variables["CLAIM_ROLES"] == "roles"  # parameters not overridden keep their defaults
        assert variables["SECRET_NAME_PREFIX"] == STACK_NAME  # no SecretNamePrefix: the stack's name
        assert variables["ASANA_PROXY_SECRET_ARN"] == ""  # no proxy secret configured
        assert "ASANA_PROXY" not in variables  # the proxy URL never travels as a plain variable
        # What Lambda sets from LoggingConfig (JSON format, ApplicationLogLevel = LogLevel's default).
        assert (variables["AWS_LAMBDA_LOG_FORMAT"], variables["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "INFO")
    merged = merged_environment(environments)
    assert merged["ALLOWED_TENANT_HOSTS"] == "127.0.0.1:3000,localhost:3000"


def test_parameters_given_locally_reach_the_functions_as_cloudformation_passes_them() -> None:
    environments = function_environments({**LOCAL_REFERENCES, "SecretNamePrefix": "acme/asana", "LogLevel": "WARN"})
    for variables in environments.values():
        assert variables["SECRET_NAME_PREFIX"] == "acme/asana"
        assert variables["POWERTOOLS_LOG_LEVEL"] == variables["AWS_LAMBDA_LOG_LEVEL"] == "WARN"


def test_a_parameter_value_cloudformation_refuses_is_refused() -> None:
    with pytest.raises(TemplateError, match="LogLevel"):
        function_environments({**LOCAL_REFERENCES, "LogLevel": "WARNING"})  # Python's spelling, not Lambda's
    with pytest.raises(TemplateError, match="SecretNamePrefix"):
        function_environments({**LOCAL_REFERENCES, "SecretNamePrefix": "org|1"})
    assert [lambda_log_level(level) for level in ("warning", "INFO", "critical")] == ["WARN", "INFO", "FATAL"]


def test_functions_disagreeing_on_a_variable_are_refused() -> None:
    with pytest.raises(EnvironmentConflict, match="A and B set X"):
        merged_environment({"A": {"X": "1", "Y": "same"}, "B": {"X": "2", "Y": "same"}})


def test_process_environment_restores_what_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_TEST_KEEP", "before")
    monkeypatch.setenv("LOCAL_TEST_REMOVED", "present")
    monkeypatch.delenv("LOCAL_TEST_NEW", raising=False)
    with process_environment({"LOCAL_TEST_KEEP": "during", "LOCAL_TEST_NEW": "x"}, remove=("LOCAL_TEST_REMOVED",)):
        assert (os.environ["LOCAL_TEST_KEEP"], os.environ["LOCAL_TEST_NEW"]) == ("during", "x")
        assert "LOCAL_TEST_REMOVED" not in os.environ
    assert os.environ["LOCAL_TEST_KEEP"] == "before"
    assert os.environ["LOCAL_TEST_REMOVED"] == "present"
    assert "LOCAL_TEST_NEW" not in os.environ


def test_template_properties_reach_the_runtime() -> None:
    host = FunctionHost()
    assert host.functions["WebhookFunction"].spec.timeout == 10
    assert host.functions["SyncFunction"].spec.timeout == 300
    # No function reserves concurrency: it fails to deploy where the account quota is 10 (the upkeep uses a lease).
    assert {fid: fn.reserved_concurrency for fid, fn in host.functions.items() if fn.reserved_concurrency} == {}
    assert host.functions["SettingsFunction"].memory_mb == 512


def test_reserved_concurrency_throttles_synchronous_invocations(tmp_path: Path) -> None:
    host = FunctionHost(mini_template(tmp_path), root=tmp_path)
    slot = host._slots["SecondFunction"]
    slot.acquire()  # one invocation in flight
    try:
        assert host.invoke("SecondFunction", {}).outcome == "throttled"
    finally:
        slot.release()
    assert host.invoke("SecondFunction", {}).result == {"name": "second", "module": "lambda_SecondFunction"}


def test_import_errors_fail_the_invocation_and_retry_next_time(tmp_path: Path) -> None:
    template = mini_template(tmp_path)
    app = tmp_path / "functions" / "first" / "app.py"
    good = app.read_text()
    app.write_text("raise ImportError('missing dependency')\n")
    host = FunctionHost(template, root=tmp_path)
    assert host.invoke("FirstFunction", {}).outcome == "error"
    app.write_text(good)
    assert host.invoke("FirstFunction", {}).outcome == "ok"


def test_same_named_sibling_modules_in_two_functions_are_refused(tmp_path: Path) -> None:
    template = mini_template(tmp_path)
    for name in ("first", "second"):
        (tmp_path / "functions" / name / "helpers.py").write_text("X = 1\n")
    with pytest.raises(ValueError, match="'helpers'"):
        FunctionHost(template, root=tmp_path)
