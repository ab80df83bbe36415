"""IAM proven from the code: every AWS call each Lambda function makes during the test suite, checked against the
policies its role gets after the SAM transform.

- :mod:`tests.iam.recorder` captures the calls (a botocore hook, attributed to a function by its code directory).
- :mod:`tests.iam.actions` turns a call into the IAM permissions AWS checks for it, dependent actions included.
- :mod:`tests.iam.cloudformation` runs the SAM transform and resolves the intrinsics of each function's role.
- :mod:`tests.iam.policy` evaluates permissions against policy statements with IAM's matching rules.
- :mod:`tests.iam.audit` puts them together: missing permissions, and grants no call needed.

The audit itself is ``tests/zz_audit/test_iam_least_privilege.py``, which runs after every other test.
"""
