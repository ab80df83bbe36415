"""The logger and metrics singletons every module imports; none creates its own (one configuration, one service name).

Tracing is left to Lambda's active tracing in the template: the X-Ray SDK behind Powertools' Tracer costs ~350 ms of
cold start and is in maintenance mode.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
