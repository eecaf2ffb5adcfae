"""robustscope.engine: the Runner, the PredictionStore it fills, and the ResultStore metrics land in.

Example:
    >>> # from robustscope.engine import PredictionStore, ResultStore, Runner
    >>> # result = Runner(PredictionStore(ws.predictions), device="cuda").run(model, dataset)
    >>> # result.predictions.logits.shape, result.shards_computed, result.shards_reused
"""

from robustscope.engine.evaluation import Evaluation
from robustscope.engine.executors import RayExecutor, SerialExecutor
from robustscope.engine.fingerprint import STORE_FORMAT_VERSION, prediction_key
from robustscope.engine.label_space import label_mapping
from robustscope.engine.prediction_store import PredictionStore
from robustscope.engine.predictions import Predictions
from robustscope.engine.result_schema import RESULT_COLUMNS, SCHEMA_VERSION
from robustscope.engine.result_store import ResultStore
from robustscope.engine.runner import Runner, RunResult
from robustscope.engine.shard_tasks import ShardOutcome, ShardTask, execute_task, execute_tasks

__all__ = [
    "RESULT_COLUMNS",
    "SCHEMA_VERSION",
    "STORE_FORMAT_VERSION",
    "Evaluation",
    "PredictionStore",
    "Predictions",
    "RayExecutor",
    "ResultStore",
    "RunResult",
    "Runner",
    "SerialExecutor",
    "ShardOutcome",
    "ShardTask",
    "execute_task",
    "execute_tasks",
    "label_mapping",
    "prediction_key",
]
