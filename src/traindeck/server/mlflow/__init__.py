"""MLflow's tracking REST API, drop-in: ``MLFLOW_TRACKING_URI=http://traindeck:8000``.

The routes the ``mlflow`` client calls to track runs (``routes``), over the store:
experiments are projects and runs are runs (``mapping`` says how each field reads);
requests are read with protobuf's JSON rules (``wire``), errors answered in MLflow's shape
(``errors``), and search filters checked in Python (``search``). Nothing here imports
``mlflow``: the server needs no MLflow installed.
"""
