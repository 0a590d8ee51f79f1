"""Optimizers (`optimizers`: conf/optimizer) and learning-rate schedules (`schedulers`:
conf/scheduler), built by a job with the parameters and the step budget it supplies."""
