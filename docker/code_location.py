"""The code location of the containers: ``hfit_dagster.definitions`` with the executor the environment names.

Installed in the image as the module ``hfit_code_location`` (on PYTHONPATH); the gRPC server loads it
(``dagster api grpc -m hfit_code_location``) and the Celery workers import it to rebuild a run's job. With
``HFIT_DAGSTER_EXECUTOR=celery`` every job's steps are Celery tasks on ``HFIT_CELERY_QUEUE``; see
``hfit_dagster/orchestration/executors.py``. ``defs`` is the same ``@dg.definitions`` function, so the
environment is read each time the location loads.
"""

from hfit_dagster.definitions import defs

__all__ = ["defs"]
