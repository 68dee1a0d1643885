"""The code location of the containers: ``hfit_dagster.definitions`` with the executor the environment names.

Installed in the image as the module ``hfit_code_location`` (on PYTHONPATH); the gRPC server loads it
(``dagster api grpc -m hfit_code_location``) and the Celery workers import it to rebuild a run's job. With
``HFIT_DAGSTER_EXECUTOR=celery`` every job's steps are Celery tasks on ``HFIT_CELERY_QUEUE``; see
``hfit_dagster/orchestration/executors.py``.
"""

from hfit_dagster.definitions import build_definitions
from hfit_dagster.orchestration.executors import executor_from_env, with_executor

# built here, not imported from hfit_dagster.definitions (whose module-level defs reads the environment once,
# when first imported): this module's defs always follow the environment it is loaded in
defs = with_executor(build_definitions(), executor_from_env())
