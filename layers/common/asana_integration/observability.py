"""The logger and metrics singletons every module imports; none creates its own (one configuration, one service name).

Tracing is left to Lambda's active tracing in the template: the X-Ray SDK behind Powertools' Tracer costs ~350 ms of
cold start and is in maintenance mode.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics

# Most requests emit no metric by design; Powertools would otherwise warn about it on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
metrics = Metrics()
