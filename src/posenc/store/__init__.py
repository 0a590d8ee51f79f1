"""What runs leave on disk and where it goes: a run folder (`run_folder`), a sweep folder and
its manifest (`sweep_folder`), checkpoints (`checkpoint`), the machine a run ran on
(`environment`), the statuses a run ends in (`status`), and the MLflow export (`tracking`).
"""
