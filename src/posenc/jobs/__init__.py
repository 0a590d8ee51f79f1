"""Running jobs: one job in its folder (`job`, `record`), the one training loop (`loop`)
over the kinds of run (`kinds`), where it runs (`resources`), signals and exit codes
(`signals`, `exits`), a sweep's end (`sweep_end`), and sampling from a trained run
(`sampling`).
"""
