"""What runs leave on disk and where it goes: a run folder (`run_folder`), a sweep folder and
its manifest (`sweep_folder`), checkpoints (`checkpoint`), the machine a run ran on
(`environment`), the statuses a run ends in (`status`), and the MLflow export (`tracking`).
"""

# the config groups a run is made of: recorded as its choices, and the columns of tables
GROUPS = ("dataset", "encoding", "model", "optimizer", "scheduler")
TRACKING_URI = "sqlite:///outputs/mlflow.db"  # where runs are exported by default
TRACKING_TIMEOUT = 10.0  # seconds to reach the tracking store before giving up
