"""Reading finished runs: tables over seeds (`comparison`), statistics (`statistics`,
`paired`, `ranks`), figures of a sweep (`plots`) and of one run (`run_figures`, drawn by
`drawer` while the next run trains), and the HTML report (`reporting`).
"""
